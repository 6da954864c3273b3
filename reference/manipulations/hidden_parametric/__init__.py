"""ℓ hidden, τ parametric: LoReFT interventions and fixed concept erasure."""

from .erasure import ConceptErasure
from .loreft import LoReFT, LoReFTIntervention

__all__ = ["ConceptErasure", "LoReFT", "LoReFTIntervention"]
