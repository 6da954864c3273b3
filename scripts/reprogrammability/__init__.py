"""Curation tools for the reprogrammability paper database.

Installs without torch: validation, rendering, link checking, arXiv and BibTeX tools.
"""

__version__ = "0.1.0"
