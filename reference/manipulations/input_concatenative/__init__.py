"""ℓ input, τ concatenative: padding prompts, learned prompt tokens, demonstrations, visual ICL grids."""

from .demonstrations import COT_TRIGGER, Demonstration, Demonstrations, PromptBuilder
from .padding import PaddingPrompt
from .visual_icl import VisualICLGrid
from .vocabulary_prompt import VocabularyPrompt

__all__ = [
    "COT_TRIGGER",
    "Demonstration",
    "Demonstrations",
    "PaddingPrompt",
    "PromptBuilder",
    "VisualICLGrid",
    "VocabularyPrompt",
]
