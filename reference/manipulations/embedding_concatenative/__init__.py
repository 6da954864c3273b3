"""ℓ embedding, τ concatenative: soft prompts (prompt tuning, VPT-shallow), fixed hard prompts,
P-tuning's encoded prompts, WARP's prompts around the input, and CoOp/CoCoOp's context for CLIP."""

from .coop import CoCoOp, CoCoOpConfig, CoOp, CoOpConfig
from .hard_prompt import HardPrompt
from .p_tuning import PTuning, PTuningConfig
from .soft_prompt import SoftPrompt, init_prompts
from .warp import WARP, WARPConfig

__all__ = [
    "WARP",
    "CoCoOp",
    "CoCoOpConfig",
    "CoOp",
    "CoOpConfig",
    "HardPrompt",
    "PTuning",
    "PTuningConfig",
    "SoftPrompt",
    "WARPConfig",
    "init_prompts",
]
