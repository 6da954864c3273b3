"""ℓ embedding, τ concatenative: soft prompts (prompt tuning, VPT-shallow) and fixed hard prompts."""

from .hard_prompt import HardPrompt
from .soft_prompt import SoftPrompt, init_prompts

__all__ = ["HardPrompt", "SoftPrompt", "init_prompts"]
