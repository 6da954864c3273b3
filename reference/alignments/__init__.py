"""Output alignments O_ω: from the frozen model's outputs to target-task predictions.

One module per ω value of ``reprogrammability.taxonomy.ALIGNMENT``; importing this package
registers every implementation with :mod:`reference.registry` under these names:

==================  =============  =================================================================
name                ω              what it does (* = the default for its ω)
==================  =============  =================================================================
identity *          identity       source logits as they are (optionally a subset of classes)
class-assignment *  rule-based     target k ← mean/max of a fixed set of source classes (vision)
verbalizer *        rule-based     target k ← vocabulary logits of its label word(s) (text)
linear *            linear         trainable ``nn.Linear(num_source, num_target)``
class-embeddings    linear         WARP's learned class embeddings on the [MASK] features (text)
rlm                 statistical    random one-to-one label mapping
flm                 statistical    frequency label mapping, computed once before training
ilm *               statistical    frequency label mapping recomputed every epoch
blm                 statistical    Bayesian-guided many-to-many mapping from argmax counts
blm+                statistical    Bayesian-guided mapping from top-K probabilities
contextual_         statistical    label-word probabilities corrected by diag(p_cf)⁻¹, fitted once
  calibration                      on content-free inputs (Zhao et al.)
self_consistency    statistical    majority vote over sampled reasoning paths (Wang et al.)
==================  =============  =================================================================

:class:`~reference.alignments.rule_based.AnswerExtractor` (rule-based answer parsing of generated
text) is not a module on logits and is not registered; evaluation code uses it directly.
"""

from .calibration import ContextualCalibration, calibrate
from .identity import IdentityAlignment
from .linear import ClassEmbeddings, LinearAlignment
from .rule_based import AnswerExtractor, ClassAssignment, Verbalizer, normalize_answer
from .self_consistency import SelfConsistency, sample_paths
from .statistical import (
    BayesianLabelMapping,
    BayesianLabelMappingPlus,
    FrequencyLabelMapping,
    IterativeLabelMapping,
    RandomLabelMapping,
    blm_weights,
    frequency_matrix,
    greedy_one_to_one,
    topk_probability_matrix,
)

__all__ = [
    "AnswerExtractor",
    "BayesianLabelMapping",
    "BayesianLabelMappingPlus",
    "ClassAssignment",
    "ClassEmbeddings",
    "ContextualCalibration",
    "FrequencyLabelMapping",
    "IdentityAlignment",
    "IterativeLabelMapping",
    "LinearAlignment",
    "RandomLabelMapping",
    "SelfConsistency",
    "Verbalizer",
    "blm_weights",
    "calibrate",
    "frequency_matrix",
    "greedy_one_to_one",
    "normalize_answer",
    "sample_paths",
    "topk_probability_matrix",
]
