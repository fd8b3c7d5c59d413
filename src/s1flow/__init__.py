"""s1flow: the s1 recipe (curation, SFT, budget forcing, evaluation) as a reproducible workflow."""

__version__ = "0.1.0"
