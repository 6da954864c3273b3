"""ℓ hidden, τ concatenative: deep prompts (VPT-deep, P-tuning v2), prefix tuning's key/value
prefixes, and fixed demonstration states."""

from .deep_prompt import DeepPrompt
from .demonstration_states import DemonstrationStates
from .prefix_tuning import PrefixTuning, PrefixTuningConfig

__all__ = ["DeepPrompt", "DemonstrationStates", "PrefixTuning", "PrefixTuningConfig"]
