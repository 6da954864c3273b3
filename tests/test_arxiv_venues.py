"""Venue recognition shared by ``repro add``/``refresh`` and BibTeX export/import."""

from __future__ import annotations

import pytest
from reprogrammability.venues import (
    CONFERENCE,
    JOURNAL,
    PREPRINT,
    WORKSHOP,
    canonical,
    detect_venue,
    full_name,
    kind_of,
)


@pytest.mark.parametrize(
    "text, short, year",
    [
        ("Published as a conference paper at ICLR 2019", "ICLR", 2019),
        ("Accepted to EMNLP 2021", "EMNLP", 2021),
        ("ECCV 2022", "ECCV", 2022),
        (("Proceedings of the 37th International Conference on Machine Learning, PMLR "
         "119:9614-9624, 2020"), "ICML", 2020),
        ("International Journal of Computer Vision (IJCV), 2022. Update: adds results", "IJCV",
         2022),
        ("7th International Conference on Learning Representations, {ICLR} 2019, New Orleans",
         "ICLR", 2019),
        ("Advances in Neural Information Processing Systems 35 (NeurIPS 2022)", "NeurIPS", 2022),
        ("Findings of the Association for Computational Linguistics: EMNLP 2022",
         "Findings of EMNLP", 2022),
        (("Proceedings of the 60th Annual Meeting of the Association for Computational "
         "Linguistics"), "ACL", None),
        ("Proceedings of the IEEE/CVF conference on computer vision and pattern recognition",
         "CVPR", None),
        ("Proceedings of the IEEE/CVF International Conference on Computer Vision", "ICCV", None),
        ("ICML 2023 Workshop on Challenges in Deployable Generative AI", "ICML Workshop", 2023),
        ("Int. J. Comput. Vis.", "IJCV", None),
        ("{IEEE} Trans. Pattern Anal. Mach. Intell.", "TPAMI", None),
        ("Pattern Recognition", "Pattern Recognition", None),
        ("Accepted at ICLR 2023. Previously under review at NeurIPS", "ICLR", 2023),
    ],
)
def test_detects_venues_where_the_paper_appeared(text, short, year):
    found = detect_venue(text)
    assert found is not None and (found.short, found.year) == (short, year)


@pytest.mark.parametrize(
    "text",
    [
        "Under review at ICLR 2024",
        "Submitted to NeurIPS 2023; 12 pages",
        "Extended version of our ICML 2020 paper; under review at TPAMI",
        "12 pages, LaTeX",
        "Phys.Lett. B448 (1999) 115-122",
        "an oracle approach for NIPSY",  # acronyms only as whole words
        "",
        None,
    ],
)
def test_ignores_mere_mentions_and_non_venues(text):
    assert detect_venue(text) is None


def test_kinds_decide_bibtex_entry_types():
    assert kind_of("ICLR") == CONFERENCE
    assert kind_of("IJCV") == JOURNAL
    assert kind_of("NeurIPS Workshop") == WORKSHOP
    assert kind_of("arXiv") == kind_of("CoRR") == PREPRINT
    assert kind_of("Journal of Obscure Results") == JOURNAL
    assert kind_of("IEEE Transactions on Something New") == JOURNAL
    assert kind_of("Proceedings of the Journal Club Conference") == CONFERENCE
    assert kind_of("Some Symposium") == CONFERENCE


def test_canonical_and_full_names():
    assert canonical("ICLR 2019") == canonical("iclr") == "ICLR"
    assert canonical("  arXiv ") == "arXiv"
    assert canonical("A Venue Nobody Knows") == "A Venue Nobody Knows"
    assert full_name("ICLR") == "International Conference on Learning Representations (ICLR)"
    assert full_name("IJCV") == "International Journal of Computer Vision"
    assert full_name("A Venue Nobody Knows") == "A Venue Nobody Knows"
