"""The 16 question sources of s1's pool (S1_REFERENCE.md section 1) as presets.

Each :class:`Preset` knows where s1 got a source on the Hugging Face hub (``fetch``) and how
s1 mapped and filtered its rows (``normalise``). ``fetch(load_dataset)`` calls the given
``datasets.load_dataset``-like callable for exactly the configs and splits s1 used and returns
one pandas DataFrame of raw rows; when several configs or splits are concatenated, the column
``_subset`` holds the config name (or release tag) of each row. ``normalise(raw, where=, seed=)``
returns the normalised columns of :data:`s1flow.curate.pool.NORMALISED_COLUMNS`.

``source`` values are s1's own ``source_type`` strings as they appear in s1's released pool
(``simplescaling/data_ablation_full59k``), e.g. ``qfq/openaimath/Algebra``,
``Hothan/OlympiadBench/Open-ended/Math``, ``qfq/stats_qual``, ``qfq/quant``,
``LiveCodeBench/release_v2``, so rows join with s1's files. ``metadata`` is a JSON object of
the raw fields not mapped to question / solution (never ``eval``'ed); the helper column
``_subset`` is not copied into it (its value is part of ``source``), nor, when configs are
concatenated by ``fetch``, the columns that only other configs have.

``normalise`` also accepts local copies of the public files, whose columns can differ from
the hub versions:

- ``openaimath``: the hub's ``problem`` / ``solution`` / ``subject`` or simple-evals'
  ``math_test.csv`` (``Question`` / ``Answer``; source ``qfq/openaimath``).
- ``theoremqa``: the GitHub ``theoremqa_test.json`` (``Picture`` is a path or null).
- ``olympiadbench``: a single-subset file without ``_subset``; the subset is taken from a
  subset name inside the file name (``where``) and defaults to ``OE_TO_maths_en_COMP``.
- ``agieval``: an AGIEval v1 file (``passage, question, options, label, answer, other``).
  A file holds one config, and s1's rules (cot_type, the level-5 filter of ``math``) depend on
  it, so the config is taken from a ``_subset`` column when there is one, else from the file
  name (``sat-en.jsonl``/``sat_en.jsonl`` ... ``logiqa-en.jsonl``, ``math.jsonl`` ->
  ``math_agieval``); otherwise InputFileError. Write one source entry per file.
- ``livecodebench``: ``_subset`` column, or a release tag / hub file name (``test2.jsonl``)
  in the file name.

Sampling follows s1's ``collect_data.py``: ``normalise`` keeps every row of XWord and SciEval,
and the pool stage samples them **after** decontamination with the preset's ``select``, on the
rows in ``datasets.Dataset.shuffle(seed=42)`` order (XWord: the first
:data:`XWORD_SAMPLE_SIZE`; SciEval: :data:`SCIEVAL_SAMPLE_SIZE` balanced over task and topic,
by s1flow's round-robin, or with ``decontamination.sampling: s1`` by s1's own quota walk,
``select_s1``). s1's code also kept a hand-written list of earlier-selected questions
(``TMP_QUESTIONS_TO_KEEP``) in NuminaMath and SciEval; s1flow does not reproduce that list.
NuminaMath keeps every ``aops_forum`` row plus the non-aops rows whose problem is one of the
fixed questions of ``simplescaling/numinamath_500`` (fetched with the source, marked
``_subset == "numinamath_500"``); a local copy without those marked rows falls back to a
``numpy.random.default_rng(seed)`` sample of :data:`NUMINAMATH_SAMPLE_SIZE` other rows. The
sizes are constants of :mod:`.base`, read at call time (setting them there takes effect).

The package holds :class:`Preset` and the shared helpers (:mod:`.base`), the sources' row
mappers by kind (:mod:`.math_sources`, :mod:`.science_sources`, :mod:`.other_sources`) and
the registry (:mod:`.registry`); this module re-exports :class:`Preset`, :data:`PRESETS`,
:func:`get_preset`.
"""

from __future__ import annotations

from s1flow.curate.sources.presets.base import Preset
from s1flow.curate.sources.presets.registry import PRESETS, get_preset

__all__ = ["PRESETS", "Preset", "get_preset"]
