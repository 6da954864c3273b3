"""ℓ hidden, τ concatenative: deep prompts (VPT-deep, P-tuning v2) and fixed demonstration states."""

from .deep_prompt import DeepPrompt
from .demonstration_states import DemonstrationStates

__all__ = ["DeepPrompt", "DemonstrationStates"]
