"""Publication venues: recognising them in free text and knowing what kind each is.

Three tools need the same knowledge. ``repro add`` reads an arXiv comment such as "Published as a
conference paper at ICLR 2019" and writes ``venue: ICLR``; ``repro refresh`` notices when arXiv's
journal_ref names a venue the database does not; BibTeX export must choose ``@inproceedings`` or
``@article`` and spell the booktitle out; BibTeX import turns DBLP's "7th International
Conference on Learning Representations, ICLR 2019, New Orleans" back into ``ICLR``. Keeping the
table here means all of them agree on what "ICLR" is.

Acronyms are matched case-sensitively as whole words (``ACL`` must not fire inside "oracle");
full names case-insensitively. Order matters: longer or more specific names come first (NAACL and
Findings before ACL, CVPR before Pattern Recognition).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

CONFERENCE = "conference"
JOURNAL = "journal"
WORKSHOP = "workshop"
PREPRINT = "preprint"

#: What the database calls a paper that only exists as a preprint.
ARXIV_VENUE = "arXiv"


@dataclass(frozen=True)
class Venue:
    short: str  #: what the database writes, e.g. ``ICLR``
    name: str  #: the full name, for BibTeX booktitle/journal
    kind: str  #: CONFERENCE or JOURNAL
    pattern: re.Pattern[str]


def _v(short: str, name: str, kind: str, acronyms: str, names: str | None = None) -> Venue:
    parts = [rf"(?<![\w-])(?:{acronyms})(?![\w-])"] if acronyms else []
    if names:
        parts.append(rf"(?i:{names})")
    return Venue(short, name, kind, re.compile("|".join(parts)))


C, J = CONFERENCE, JOURNAL

VENUES: tuple[Venue, ...] = (
    _v("Findings of EMNLP", "Findings of the Association for Computational Linguistics: EMNLP", C,
       r"Findings of EMNLP|EMNLP Findings", r"findings of the association for computational "
       r"linguistics:?\s+emnlp"),
    _v("Findings of ACL", "Findings of the Association for Computational Linguistics: ACL", C,
       r"Findings of ACL|ACL Findings", r"findings of the association for computational "
       r"linguistics:?\s+acl"),
    _v("Findings of NAACL", "Findings of the Association for Computational Linguistics: NAACL", C,
       r"Findings of NAACL|NAACL Findings", r"findings of the association for computational "
       r"linguistics:?\s+naacl"),
    _v("NeurIPS", "Advances in Neural Information Processing Systems (NeurIPS)", C,
       r"NeurIPS|NIPS", r"neural information processing systems"),
    _v("ICLR", "International Conference on Learning Representations (ICLR)", C,
       r"ICLR", r"international conference on learning representations"),
    _v("ICML", "International Conference on Machine Learning (ICML)", C,
       r"ICML", r"international conference on machine learning"),
    _v("CVPR", "IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)", C,
       r"CVPR", r"conference on computer vision and pattern recognition"),
    _v("ICCV", "IEEE/CVF International Conference on Computer Vision (ICCV)", C,
       r"ICCV", r"international conference on computer vision(?! and)"),
    _v("ECCV", "European Conference on Computer Vision (ECCV)", C,
       r"ECCV", r"european conference on computer vision"),
    _v("WACV", "IEEE/CVF Winter Conference on Applications of Computer Vision (WACV)", C,
       r"WACV", r"winter conference on applications of computer vision"),
    _v("BMVC", "British Machine Vision Conference (BMVC)", C,
       r"BMVC", r"british machine vision conference"),
    _v("NAACL", "Conference of the North American Chapter of the Association for Computational "
       "Linguistics (NAACL)", C, r"NAACL(?:-HLT)?", r"north american chapter of the association"),
    _v("EACL", "Conference of the European Chapter of the Association for Computational "
       "Linguistics (EACL)", C, r"EACL", r"european chapter of the association"),
    _v("EMNLP", "Conference on Empirical Methods in Natural Language Processing (EMNLP)", C,
       r"EMNLP", r"empirical methods in natural language processing"),
    _v("COLING", "International Conference on Computational Linguistics (COLING)", C,
       r"COLING", r"international conference on computational linguistics"),
    _v("TACL", "Transactions of the Association for Computational Linguistics", J,
       r"TACL", r"transactions of the association for computational linguistics"
       r"|trans\. assoc\. comput\. linguistics"),
    _v("ACL", "Annual Meeting of the Association for Computational Linguistics (ACL)", C,
       r"ACL", r"annual meeting of the association for computational linguistics"),
    _v("COLM", "Conference on Language Modeling (COLM)", C,
       r"COLM", r"conference on language modeling"),
    _v("AAAI", "AAAI Conference on Artificial Intelligence", C,
       r"AAAI", r"aaai conference on artificial intelligence"),
    _v("IJCAI", "International Joint Conference on Artificial Intelligence (IJCAI)", C,
       r"IJCAI", r"international joint conference on artificial intelligence"),
    _v("AISTATS", "International Conference on Artificial Intelligence and Statistics (AISTATS)", C,
       r"AISTATS", r"artificial intelligence and statistics"),
    _v("UAI", "Conference on Uncertainty in Artificial Intelligence (UAI)", C,
       r"UAI", r"uncertainty in artificial intelligence"),
    _v("KDD", "ACM SIGKDD Conference on Knowledge Discovery and Data Mining (KDD)", C,
       r"(?:SIG)?KDD", r"knowledge discovery and data mining"),
    _v("WWW", "The ACM Web Conference (WWW)", C, r"WWW", r"the (?:acm )?web conference"),
    _v("SIGIR", "International ACM SIGIR Conference on Research and Development in Information "
       "Retrieval (SIGIR)", C, r"SIGIR", None),
    _v("ACM MM", "ACM International Conference on Multimedia (ACM MM)", C,
       r"ACM MM|ACM Multimedia", r"acm international conference on multimedia"),
    _v("ICASSP", "IEEE International Conference on Acoustics, Speech and Signal Processing "
       "(ICASSP)", C, r"ICASSP", r"acoustics,? speech,? and signal processing"),
    _v("Interspeech", "Interspeech", C, r"INTERSPEECH|Interspeech", None),
    _v("MICCAI", "International Conference on Medical Image Computing and Computer-Assisted "
       "Intervention (MICCAI)", C, r"MICCAI", r"medical image computing and computer.assisted"),
    _v("CoRL", "Conference on Robot Learning (CoRL)", C, r"CoRL", r"conference on robot learning"),
    _v("ICRA", "IEEE International Conference on Robotics and Automation (ICRA)", C,
       r"ICRA", r"international conference on robotics and automation"),
    _v("LoG", "Learning on Graphs Conference (LoG)", C, r"LoG", r"learning on graphs conference"),
    _v("SaTML", "IEEE Conference on Secure and Trustworthy Machine Learning (SaTML)", C,
       r"SaTML", r"conference on secure and trustworthy machine learning"),
    _v("CCS", "ACM SIGSAC Conference on Computer and Communications Security (CCS)", C,
       r"CCS", r"conference on computer and communications security"),
    _v("TPAMI", "IEEE Transactions on Pattern Analysis and Machine Intelligence", J,
       r"T-?PAMI", r"transactions on pattern analysis and machine intelligence"
       r"|trans\. pattern anal\. mach\. intell"),
    _v("IJCV", "International Journal of Computer Vision", J,
       r"IJCV", r"international journal of computer vision|int\. j\. comput\. vis"),
    _v("JMLR", "Journal of Machine Learning Research", J,
       r"JMLR", r"journal of machine learning research|j\. mach\. learn\. res"),
    _v("TMLR", "Transactions on Machine Learning Research", J,
       r"TMLR", r"transactions on machine learning research|trans\. mach\. learn\. res"),
    _v("TNNLS", "IEEE Transactions on Neural Networks and Learning Systems", J,
       r"TNNLS", r"transactions on neural networks and learning systems"
       r"|trans\. neural networks learn\. syst"),
    _v("TIP", "IEEE Transactions on Image Processing", J,
       r"IEEE TIP", r"transactions on image processing|trans\. image process"),
    _v("TASLP", "IEEE/ACM Transactions on Audio, Speech, and Language Processing", J,
       r"TASLP", r"transactions on audio,? speech,? and language processing"),
    _v("TMM", "IEEE Transactions on Multimedia", J, r"IEEE TMM", r"transactions on multimedia"),
    _v("TKDE", "IEEE Transactions on Knowledge and Data Engineering", J,
       r"TKDE", r"transactions on knowledge and data engineering"),
    _v("Nature Machine Intelligence", "Nature Machine Intelligence", J, "",
       r"nature machine intelligence"),
    _v("Nature Communications", "Nature Communications", J, "", r"nature communications"),
    _v("Pattern Recognition", "Pattern Recognition", J, "",
       r"(?<!and )(?<!on )(?<!in )\bpattern recognit(?:ion\b|\.)(?! letters)(?!,? and)"),
    _v("Pattern Recognition Letters", "Pattern Recognition Letters", J, "",
       r"pattern recognition letters"),
    _v("Neural Networks", "Neural Networks", J, "", r"^\s*neural networks\s*$"),
    _v("Medical Image Analysis", "Medical Image Analysis", J, "", r"\bmedical image analysis\b"),
    _v("Knowledge-Based Systems", "Knowledge-Based Systems", J, "", r"knowledge.based systems"),
    _v("AI Open", "AI Open", J, "", r"^\s*ai open\s*$"),
    _v("Digital Discovery", "Digital Discovery", J, "", r"^\s*digital discovery\s*$"),
    _v("Nature", "Nature", J, "", r"^\s*nature\s*$"),
    _v("Science", "Science", J, "", r"^\s*science\s*$"),
    _v("Neurocomputing", "Neurocomputing", J, "", r"\bneurocomputing\b"),
)

_BY_SHORT = {v.short.casefold(): v for v in VENUES}
_YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20\d\d)(?!\d)")
_WORKSHOP = re.compile(r"\bworkshops?\b", re.IGNORECASE)
# Words just before a venue that mean the paper is not (yet) in it.
_NOT_ACCEPTED = re.compile(
    r"under review|submitted|submission|rejected|withdrawn|extended version of|extension of"
    r"|invited talk|presented as a poster at|non-archival",
    re.IGNORECASE,
)
_CLAUSES = re.compile(r"[;\n]")
_PREPRINT = re.compile(r"^\s*(?:arxiv|corr|preprint|arxiv preprint.*)\s*$", re.IGNORECASE)
_JOURNALISH = re.compile(r"\b(?:journal|transactions|letters|review|magazine|annals)\b",
                         re.IGNORECASE)
_CONFERENCEISH = re.compile(
    r"\b(?:conference|proceedings|symposium|meeting|congress|colloquium|forum|summit)\b",
    re.IGNORECASE)


@dataclass(frozen=True)
class VenueMatch:
    """A venue found in free text: ``short`` is what the database would write."""

    venue: Venue
    year: int | None
    workshop: bool

    @property
    def short(self) -> str:
        return f"{self.venue.short} Workshop" if self.workshop else self.venue.short

    @property
    def kind(self) -> str:
        return WORKSHOP if self.workshop else self.venue.kind


def detect_venue(text: str | None) -> VenueMatch | None:
    """The first known venue that ``text`` says the paper appeared in, with its year if given.

    Clauses that only mention a venue ("under review at ICLR 2024", "submitted to NeurIPS") are
    skipped: a wrong venue in the database is worse than ``arXiv``.
    """
    if not text:
        return None
    for clause in _CLAUSES.split(text):
        hits = []
        for venue in VENUES:
            for m in venue.pattern.finditer(clause):
                hits.append((m.start(), VENUES.index(venue), venue, m))
        for start, _, venue, m in sorted(hits, key=lambda h: (h[0], h[1])):
            window = clause[:start]
            window = window[window.rfind(". ") + 1:][-60:]
            if _NOT_ACCEPTED.search(window):
                continue
            after = _YEAR.search(clause, m.end())
            before = _YEAR.findall(clause[:start])
            year = int(after.group(1)) if after else (int(before[-1]) if before else None)
            return VenueMatch(venue, year, bool(_WORKSHOP.search(clause)))
    return None


def known(short: str) -> Venue | None:
    """The venue whose database spelling is ``short`` (case-insensitive), if any."""
    return _BY_SHORT.get(short.strip().casefold())


def canonical(venue: str) -> str:
    """The database spelling a venue string stands for: ``ICLR 2019`` -> ``ICLR``.

    Unknown venues come back stripped but otherwise as written, so two spellings of an unknown
    venue only compare equal when they are written the same.
    """
    text = " ".join(venue.split())
    if is_preprint(text):
        return ARXIV_VENUE
    if known(text):
        return known(text).short  # type: ignore[union-attr]
    found = detect_venue(text)
    return found.short if found else text


def is_preprint(venue: str) -> bool:
    return bool(_PREPRINT.match(venue))


@lru_cache(maxsize=4096)
def kind_of(venue: str) -> str:
    """CONFERENCE, JOURNAL, WORKSHOP or PREPRINT for a database venue string.

    Known venues answer from the table; others by the words in their name ("Journal",
    "Transactions" -> journal; "Workshop" -> workshop); anything else is taken for a conference,
    the commonest case in this field.
    """
    text = " ".join(venue.split())
    if not text or is_preprint(text):
        return PREPRINT
    if _WORKSHOP.search(text):
        return WORKSHOP
    v = known(text)
    if v is None:
        found = detect_venue(text)
        v = found.venue if found else None
    if v is not None:
        return v.kind
    if _JOURNALISH.search(text) and not _CONFERENCEISH.search(text):
        return JOURNAL
    return CONFERENCE


@lru_cache(maxsize=4096)
def full_name(venue: str) -> str:
    """The spelled-out name for a database venue (``ICLR`` -> ``International Conference ...``).

    Only exact database spellings of known venues are expanded; anything else is kept, since a
    contributor who wrote a long name meant it.
    """
    text = " ".join(venue.split())
    v = known(text)
    return v.name if v is not None else text
