"""The 16 question sources of s1's pool (S1_REFERENCE.md section 1) as presets.

Each :class:`Preset` knows where s1 got a source on the Hugging Face hub (``fetch``) and how
s1 mapped and filtered its rows (``normalise``). ``fetch(load_dataset)`` calls the given
``datasets.load_dataset``-like callable for exactly the configs and splits s1 used and returns
one pandas DataFrame of raw rows; when several configs or splits are concatenated, the column
``_subset`` holds the config name (or release tag) of each row. ``normalise(raw, where=, seed=)``
returns the normalised columns of :data:`s1flow.pool.NORMALISED_COLUMNS`.

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
sizes are module constants, read at call time.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from s1flow.errors import ConfigError, InputFileError
from s1flow.io import require_columns, require_string_column
from s1flow.pool import normalise_records

LoadDataset = Callable[..., Any]
FetchFn = Callable[[LoadDataset], pd.DataFrame]
NormaliseFn = Callable[..., pd.DataFrame]
SelectFn = Callable[[pd.DataFrame], np.ndarray]

SUBSET = "_subset"
FIELDS_ATTR = "s1flow_subset_fields"
NUMINAMATH_SAMPLE_SIZE = 500
SCIEVAL_SAMPLE_SIZE = 250
XWORD_SAMPLE_SIZE = 1000
AIME_MAX_YEAR = 2022
XWORD_INSTRUCTION = (
    "Solve the crossword puzzle. "
    "You are presented with a clue as input and the number of letters in brackets."
)


@dataclass(frozen=True)
class Preset:
    """One s1 source: its hub id, main cot_type, and how to fetch and normalise it.

    ``cot_type`` is the type of most rows; presets whose rows differ (OlympicArena, SciEval,
    JEEBench, AGIEval) set it per row in ``normalise`` as s1 did. ``select`` (sampled presets
    only) returns the positions to keep of the decontaminated, shuffled normalised table;
    ``select_s1``, where s1's own pick differs, is used with ``decontamination.sampling: s1``.
    """

    name: str
    hub_id: str
    cot_type: str
    description: str
    fetch: FetchFn
    normalise: NormaliseFn
    select: SelectFn | None = None
    select_s1: SelectFn | None = None

    def selection(self, sampling: str = "balanced") -> SelectFn | None:
        """The pick applied after decontamination: ``select``, or ``select_s1`` for sampling "s1"."""
        if sampling == "s1" and self.select_s1 is not None:
            return self.select_s1
        return self.select


# --------------------------------------------------------------------------- helpers


def _is_null(value: Any) -> bool:
    """True for None, NaN, an empty string, or an image dict with no bytes and no path."""
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    if isinstance(value, str):
        return value == ""
    if isinstance(value, Mapping):
        return all(_is_null(v) for v in value.values())
    return False


def _as_list(value: Any) -> list | None:
    """A list/tuple/ndarray cell as a list; None for any other cell (null or scalar)."""
    if isinstance(value, np.ndarray | list | tuple):
        return list(value)
    return None


def _first(value: Any) -> Any:
    """First element of a list-like cell (s1's ``x[0]``); a scalar is returned as is."""
    items = _as_list(value)
    if items is None:
        return None if _is_null(value) else value
    return items[0] if items else None


def _to_pandas(ds: Any) -> pd.DataFrame:
    return ds if isinstance(ds, pd.DataFrame) else ds.to_pandas()


def _load(
    load_dataset: LoadDataset, path: str, name: str | None = None, *, split: str, **kwargs: Any
) -> pd.DataFrame:
    return _to_pandas(load_dataset(path, name, split=split, **kwargs))


def _concat(parts: Iterable[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """Concatenate (subset, frame) pairs, recording the subset in the ``_subset`` column.

    Each subset's own columns are kept in ``attrs[FIELDS_ATTR]`` so metadata can leave out
    the (null) columns that only other subsets have.
    """
    frames, fields = [], {}
    for subset, df in parts:
        fields[subset] = [str(c) for c in df.columns]
        df = df.copy()
        df[SUBSET] = subset
        frames.append(df)
    out = pd.concat(frames, ignore_index=True, sort=False)
    out.attrs[FIELDS_ATTR] = fields
    return out


def _single(hub_id: str, split: str, name: str | None = None) -> FetchFn:
    def fetch(load_dataset: LoadDataset) -> pd.DataFrame:
        return _load(load_dataset, hub_id, name, split=split)

    fetch.__doc__ = f"load_dataset({hub_id!r}, {name!r}, split={split!r})"
    return fetch


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _sample_positions(n_rows: int, size: int, seed: int) -> np.ndarray:
    """Sorted positions of a seeded sample of `size` rows (all rows when there are fewer)."""
    if n_rows <= size:
        return np.arange(n_rows)
    return np.sort(_rng(seed).choice(n_rows, size=size, replace=False))


def _file_stem(where: str) -> str:
    return Path(str(where)).name.split(".")[0].lower().replace("-", "_")


def _subsets(
    raw: pd.DataFrame,
    where: str,
    *,
    preset: str,
    known: Sequence[str],
    aliases: Mapping[str, str] | None = None,
    contains: bool = False,
    default: str | None = None,
) -> list[str]:
    """The subset of each row: the ``_subset`` column, else one read from the file name, else `default`.

    The file name (last component of `where`) matches a known subset or alias exactly after
    lower-casing and mapping ``-`` to ``_`` (or, with `contains`, when it contains a known name).
    """
    if SUBSET in raw.columns:
        values = raw[SUBSET].tolist()
        bad = sorted({str(v) for v in values if _is_null(v) or str(v) not in known})
        if bad:
            raise InputFileError(
                f"{where}: unknown {preset} subset(s) {bad} in column '{SUBSET}'; known: {list(known)}"
            )
        return [str(v) for v in values]
    stem = _file_stem(where)
    lookup = {k.lower(): k for k in known}
    lookup.update({k.lower().replace("-", "_"): v for k, v in (aliases or {}).items()})
    found = lookup.get(stem)
    if found is None and contains:
        hits = [k for k in known if k.lower() in stem]
        found = max(hits, key=len) if hits else None
    if found is None:
        found = default
    if found is None:
        raise InputFileError(
            f"{where}: cannot tell which {preset} subset this table holds: add a '{SUBSET}' column "
            f"(one of {list(known)}) or name the file after the subset (e.g. {known[0]}.jsonl)"
        )
    return [found] * len(raw)


def _emit(
    df: pd.DataFrame,
    *,
    where: str,
    question: str | Sequence[Any],
    solution: str | Sequence[Any] | None = None,
    domain: str | Sequence[Any] | None = None,
    cot_type: str | Sequence[str],
    source: str | Sequence[str],
    drop: Iterable[str] = (),
    drop_per_row: Sequence[Iterable[str]] | None = None,
) -> pd.DataFrame:
    """Build the normalised table with :func:`s1flow.pool.normalise_records`.

    `question` / `solution` / `domain` name a column of `df` or give one derived value per row
    (then the raw columns they came from are listed in `drop`, or per row in `drop_per_row`,
    so they stay out of metadata). `cot_type` / `source` are one value or one per row.
    ``_subset`` never goes into metadata, nor columns that only other configs have.
    """
    df = df.reset_index(drop=True)
    work = df.drop(columns=[c for c in (*drop, SUBSET) if c in df.columns])
    names: dict[str, str | None] = {}
    for key, value in (("question", question), ("solution", solution), ("domain", domain)):
        if value is None or isinstance(value, str):
            names[key] = value
        else:
            column = f"_{key}_"
            work[column] = list(value)
            names[key] = column
    out = normalise_records(
        work,
        where=where,
        question=str(names["question"]),
        solution=names["solution"],
        domain=names["domain"],
        cot_type="math",
        source="",
    )
    out["cot_type"] = cot_type if isinstance(cot_type, str) else list(cot_type)
    out["source"] = source if isinstance(source, str) else list(source)
    fields = (df.attrs.get(FIELDS_ATTR) or {}) if SUBSET in df.columns else {}
    if fields or drop_per_row is not None:
        subsets = df[SUBSET].tolist() if SUBSET in df.columns else [None] * len(df)
        extra = [set(d) for d in drop_per_row] if drop_per_row is not None else [set()] * len(df)
        out["metadata"] = [
            _trim_metadata(meta, own=fields.get(subset), drop=d)
            for meta, subset, d in zip(out["metadata"], subsets, extra, strict=True)
        ]
    return out


def _trim_metadata(meta: str, *, own: Sequence[str] | None, drop: set[str]) -> str:
    """Remove `drop` keys and, when `own` (the row's config columns) is known, keys not in it.

    :func:`_concat` records each config's columns in ``df.attrs``; without that record
    (e.g. a concatenated table read back from disk) metadata keeps the union of the columns.
    """
    if own is None and not drop:
        return meta
    fields = json.loads(meta)
    kept = {k: v for k, v in fields.items() if k not in drop and (own is None or k in own)}
    return json.dumps(kept, ensure_ascii=False)


def _keep(df: pd.DataFrame, mask: Sequence[bool] | pd.Series) -> pd.DataFrame:
    return df[np.asarray(mask, dtype=bool)].reset_index(drop=True)


def _column_or_none(df: pd.DataFrame, column: str) -> list[Any]:
    return df[column].tolist() if column in df.columns else [None] * len(df)


def _first_present(df: pd.DataFrame, *columns: str) -> str | None:
    return next((c for c in columns if c in df.columns), None)


def _stripped(df: pd.DataFrame, column: str, where: str) -> list[str]:
    require_string_column(df, column, where)
    return [v.strip() for v in df[column].tolist()]


def _with_suffix(base: str, values: Sequence[Any]) -> list[str]:
    return [base if _is_null(v) else f"{base}/{v}" for v in values]


# --------------------------------------------------------------------------- openaimath


def _normalise_openaimath(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """MATH train (hub: problem/solution/subject) or simple-evals' math_test.csv (Question/Answer)."""
    if "problem" in raw.columns or "Question" not in raw.columns:
        if "problem" not in raw.columns:
            raise InputFileError(
                f"{where}: missing column(s) ['problem'] "
                f"(or 'Question'/'Answer' of simple-evals' math_test.csv); "
                f"found {sorted(map(str, raw.columns))}"
            )
        require_columns(raw, ["problem", "solution"], where)
        question, solution = "problem", "solution"
    else:
        require_columns(raw, ["Question", "Answer"], where)
        question, solution = "Question", "Answer"
    subjects = _column_or_none(raw, "subject")
    return _emit(
        raw,
        where=where,
        question=question,
        solution=solution,
        domain="subject" if "subject" in raw.columns else None,
        cot_type="math",
        source=_with_suffix("qfq/openaimath", subjects),
    )


# --------------------------------------------------------------------------- OlympicArena

OLYMPIC_ARENA_SUBJECTS = ("Math", "Physics", "Chemistry", "Biology", "Geography", "Astronomy", "CS")
OLYMPIC_ARENA_SPLITS = ("test", "val")
_OLYMPIC_ARENA_COT = {"Math": "math", "CS": "coding"}


def _fetch_olympic_arena(load_dataset: LoadDataset) -> pd.DataFrame:
    """All test splits, then all val splits, of the 7 subject configs (s1's order)."""
    return _concat(
        (subject, _load(load_dataset, "GAIR/OlympicArena", subject, split=split))
        for split in OLYMPIC_ARENA_SPLITS
        for subject in OLYMPIC_ARENA_SUBJECTS
    )


def _normalise_olympic_arena(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """English, text-only rows; cot_type math for Math, coding for CS, else science."""
    require_columns(raw, ["problem", "language", "modality"], where)
    if "subject" not in raw.columns and SUBSET not in raw.columns:
        require_columns(raw, ["subject"], where)
    df = _keep(raw, (raw["language"] == "EN") & (raw["modality"] == "text-only"))
    subjects = df["subject"].tolist() if "subject" in df.columns else df[SUBSET].tolist()
    return _emit(
        df,
        where=where,
        question="problem",
        solution="solution" if "solution" in df.columns else None,
        domain=subjects,
        cot_type=[_OLYMPIC_ARENA_COT.get(s, "science") for s in subjects],
        source=[f"GAIR/OlympicArena/{s}" for s in subjects],
    )


# --------------------------------------------------------------------------- TheoremQA


def _normalise_theoremqa(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """Rows without a Picture; source by Answer_type; domain = subfield (else field) when present."""
    require_columns(raw, ["Question", "Answer", "Picture"], where)
    df = _keep(raw, [_is_null(p) for p in raw["Picture"].tolist()])
    domain = _first_present(df, "subfield", "field")
    return _emit(
        df,
        where=where,
        question="Question",
        solution="Answer",
        domain=domain,
        cot_type="math",
        source=_with_suffix("TIGER-Lab/TheoremQA", _column_or_none(df, "Answer_type")),
    )


# --------------------------------------------------------------------------- NuminaMath


NUMINAMATH_FIXED = "numinamath_500"
NUMINAMATH_MAIN = "NuminaMath-CoT"


def _fetch_numinamath(load_dataset: LoadDataset) -> pd.DataFrame:
    """NuminaMath-CoT train plus the fixed question list ``simplescaling/numinamath_500`` (train)."""
    return _concat(
        [
            (NUMINAMATH_MAIN, _load(load_dataset, "AI-MO/NuminaMath-CoT", split="train")),
            (NUMINAMATH_FIXED, _load(load_dataset, "simplescaling/numinamath_500", split="train")),
        ]
    )


def _normalise_numinamath(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """The non-aops rows whose problem is in numinamath_500, then every aops_forum row (s1's order).

    Rows with ``_subset == "numinamath_500"`` only define the fixed list. Without such rows,
    a seeded sample of NUMINAMATH_SAMPLE_SIZE non-aops rows replaces the list.
    """
    require_columns(raw, ["problem"], where)
    df = raw.reset_index(drop=True)
    fixed: set[str] | None = None
    if SUBSET in df.columns:
        marked = (df[SUBSET] == NUMINAMATH_FIXED).to_numpy()
        if marked.any():
            fixed = set(df.loc[marked, "problem"].tolist())
        df = _keep(df, ~marked)
    require_columns(df, ["problem", "solution", "source"], where)
    is_aops = (df["source"] == "aops_forum").to_numpy()
    rest = np.flatnonzero(~is_aops)
    if fixed is not None:
        chosen = rest[[p in fixed for p in df["problem"].iloc[rest]]] if len(rest) else rest
    else:
        chosen = rest[_sample_positions(len(rest), NUMINAMATH_SAMPLE_SIZE, seed)]
    df = df.iloc[np.concatenate([chosen, np.flatnonzero(is_aops)])].reset_index(drop=True)
    return _emit(
        df,
        where=where,
        question="problem",
        solution="solution",
        cot_type="math",
        source=_with_suffix("AI-MO/NuminaMath-CoT", df["source"].tolist()),
    )


# --------------------------------------------------------------------------- Omni-MATH


def _normalise_omni_math(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """All rows; domain = the first entry of Omni-MATH's ``domain`` list (the list stays in metadata)."""
    require_columns(raw, ["problem", "solution"], where)
    df = raw.reset_index(drop=True)
    domains = [_first(v) for v in _column_or_none(df, "domain")]
    return _emit(
        df,
        where=where,
        question="problem",
        solution="solution",
        domain=domains,
        cot_type="math",
        source="KbsdJames/Omni-MATH",
    )


# --------------------------------------------------------------------------- SciEval

_SCIEVAL_COT = {
    "SocraticQA": "science",
    "reagent selection": "science",
    "MedQA": "health science",
    "PubMedQA": "health science",
}
_SCIEVAL_REWRITES = (
    ("\nOptimal solvent:", "\nWhat is the optimal solvent?"),
    ("\nOptimal ligand:", "\nWhat is the optimal ligand?"),
    ("\nOptimal reactant:", "\nWhat is the optimal reactant?"),
)


def _fetch_scieval(load_dataset: LoadDataset) -> pd.DataFrame:
    return _concat(
        (split, _load(load_dataset, "OpenDFM/SciEval", split=split)) for split in ("test", "validation")
    )


def _clean_scieval_question(text: str) -> str:
    text = text.split("\n\nAnswer:")[0]
    for old, new in _SCIEVAL_REWRITES:
        text = text.replace(old, new)
    return text


def _round_robin(queues: Sequence[Sequence[int]]) -> list[int]:
    out: list[int] = []
    for i in range(max((len(q) for q in queues), default=0)):
        out.extend(q[i] for q in queues if i < len(q))
    return out


def _balanced_positions(tasks: Sequence[str], topics: Sequence[str], size: int) -> list[int]:
    """Positions of `size` rows spread evenly over tasks and, within a task, over topics.

    Rows are taken in the given order within each (task, topic); the result is sorted, so
    the chosen rows keep that order.
    """
    groups: dict[str, dict[str, list[int]]] = {}
    for pos in range(len(tasks)):
        groups.setdefault(tasks[pos], {}).setdefault(topics[pos], []).append(pos)
    per_task = [
        _round_robin([by_topic[t] for t in sorted(by_topic)]) for _, by_topic in sorted(groups.items())
    ]
    return sorted(_round_robin(per_task)[:size])


def _select_scieval(df: pd.DataFrame) -> np.ndarray:
    """SCIEVAL_SAMPLE_SIZE normalised rows balanced over the task_name and topic in their metadata."""
    meta = [json.loads(m) for m in df["metadata"]]
    tasks = [str(m.get("task_name")) for m in meta]
    topics = ["" if _is_null(m.get("topic")) else str(m.get("topic")) for m in meta]
    return np.asarray(_balanced_positions(tasks, topics, SCIEVAL_SAMPLE_SIZE), dtype=np.int64)


def _scieval_key(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _select_scieval_s1(df: pd.DataFrame) -> np.ndarray:
    """s1's ``select_examples_scieval`` on the shuffled rows (its hand-kept questions aside).

    Each task name gets a quota of ceil(SCIEVAL_SAMPLE_SIZE / #tasks) and each topic value
    (null included) one of ceil(SocraticQA's quota / #topics). Walking the rows in order, a
    row is picked while its topic has quota left (which also spends SocraticQA's quota) and
    picked again while its task has quota left, so a row can appear twice (the final
    exact-duplicate pass keeps one); the walk stops once exactly SCIEVAL_SAMPLE_SIZE picks
    are made (it can step over that count and then run to the end).
    """
    size = SCIEVAL_SAMPLE_SIZE
    meta = [json.loads(m) for m in df["metadata"]]
    tasks = [_scieval_key(m.get("task_name")) for m in meta]
    topics = [_scieval_key(m.get("topic")) for m in meta]
    if not tasks:
        return np.zeros(0, dtype=np.int64)
    per_task = dict.fromkeys(set(tasks), math.ceil(size / len(set(tasks))))
    socratic = per_task.get("SocraticQA", 0)
    per_topic = dict.fromkeys(set(topics), math.ceil(socratic / len(set(topics))))
    picked: list[int] = []
    for pos, (task, topic) in enumerate(zip(tasks, topics, strict=True)):
        if per_topic[topic] > 0:
            picked.append(pos)
            per_topic[topic] -= 1
            if "SocraticQA" in per_task:
                per_task["SocraticQA"] -= 1
        if per_task[task] > 0:
            picked.append(pos)
            per_task[task] -= 1
        if len(picked) == size:
            break
    return np.asarray(picked, dtype=np.int64)


def _select_xword(df: pd.DataFrame) -> np.ndarray:
    """The first XWORD_SAMPLE_SIZE rows (of the shuffled, decontaminated table)."""
    return np.arange(min(len(df), XWORD_SAMPLE_SIZE), dtype=np.int64)


def _normalise_scieval(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """Every row with an answer (the pool stage samples them with :func:`_select_scieval`).

    The question loses its trailing "Answer:" prompt and the reagent-selection prompts become
    questions, as in s1; solution = the first answer.
    """
    require_columns(raw, ["question", "answer", "task_name", "category", "type"], where)
    require_string_column(raw, "question", where)
    df = raw.reset_index(drop=True)
    df = _keep(df, [not _is_null(_first(a)) for a in df["answer"]])
    tasks = [str(t) for t in df["task_name"]]
    return _emit(
        df,
        where=where,
        question=[_clean_scieval_question(q) for q in df["question"]],
        solution=[_first(a) for a in df["answer"]],
        domain="category",
        cot_type=[_SCIEVAL_COT.get(t, "science") for t in tasks],
        source=[
            f"OpenDFM/SciEval/{c}/{ty}/{t}"
            for c, ty, t in zip(df["category"], df["type"], tasks, strict=True)
        ],
        drop=["question", "answer"],
    )


# --------------------------------------------------------------------------- OlympiadBench

OLYMPIADBENCH_SUBSETS = (
    "OE_TO_maths_en_COMP",
    "OE_TO_physics_en_COMP",
    "TP_TO_maths_en_COMP",
    "TP_TO_physics_en_COMP",
)
_OLYMPIADBENCH_TYPES = {"OE": "Open-ended", "TP": "Theorem proof"}
_OLYMPIADBENCH_SUBJECTS = {"maths": "Math", "physics": "Physics"}


def _fetch_olympiadbench(load_dataset: LoadDataset) -> pd.DataFrame:
    return _concat(
        (subset, _load(load_dataset, "Hothan/OlympiadBench", subset, split="train"))
        for subset in OLYMPIADBENCH_SUBSETS
    )


def _olympiadbench_source(subset: str, question_type: Any, subject: Any) -> str:
    parts = subset.split("_")
    if _is_null(question_type):
        question_type = _OLYMPIADBENCH_TYPES.get(parts[0])
    if _is_null(subject):
        subject = _OLYMPIADBENCH_SUBJECTS.get(parts[2]) if len(parts) > 2 else None
    if question_type is None or subject is None:
        return f"Hothan/OlympiadBench/{subset}"
    return f"Hothan/OlympiadBench/{question_type}/{subject}"


def _normalise_olympiadbench(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """All rows; solution = the first worked solution; source ``Hothan/OlympiadBench/<type>/<subject>``.

    type/subject come from the row's ``question_type`` / ``subject`` (hub) or from the subset
    name (local copies: ``_subset`` column, else a subset name in the file name, else
    ``OE_TO_maths_en_COMP``). domain = ``subfield``. s1 leaves ``context`` out of the question.
    """
    require_columns(raw, ["question", "solution"], where)
    df = raw.reset_index(drop=True)
    subsets = _subsets(
        df,
        where,
        preset="olympiadbench",
        known=OLYMPIADBENCH_SUBSETS,
        contains=True,
        default="OE_TO_maths_en_COMP",
    )
    sources = [
        _olympiadbench_source(s, qt, sj)
        for s, qt, sj in zip(
            subsets, _column_or_none(df, "question_type"), _column_or_none(df, "subject"), strict=True
        )
    ]
    return _emit(
        df,
        where=where,
        question="question",
        solution=[_first(s) for s in df["solution"]],
        domain="subfield" if "subfield" in df.columns else None,
        cot_type="math",
        source=sources,
        drop=["solution"],
    )


# --------------------------------------------------------------------------- JEEBench

_JEEBENCH_COT = {"math": "math", "phy": "math", "chem": "science"}


def _normalise_jeebench(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """All rows; solution = gold; math and phy -> cot_type math, chem -> science; domain = subject."""
    require_columns(raw, ["question", "gold", "subject"], where)
    subjects = [str(s) for s in raw["subject"]]
    unknown = sorted(set(subjects) - set(_JEEBENCH_COT))
    if unknown:
        raise InputFileError(
            f"{where}: unknown JEEBench subject(s) {unknown} in column 'subject'; "
            f"known: {list(_JEEBENCH_COT)}"
        )
    return _emit(
        raw,
        where=where,
        question="question",
        solution="gold",
        domain="subject",
        cot_type=[_JEEBENCH_COT[s] for s in subjects],
        source=[f"daman1209arora/jeebench/{s}" for s in subjects],
    )


# --------------------------------------------------------------------------- AGIEval

AGIEVAL_CONFIGS = (
    "sat_en",
    "sat_math",
    "lsat_ar",
    "lsat_lr",
    "lsat_rc",
    "logiqa",
    "aqua_rat",
    "math_agieval",
)
AGIEVAL_SPLITS = ("test", "few_shot")
_AGIEVAL_WITH_PASSAGE = ("sat_en", "sat_math", "lsat_ar", "lsat_lr", "lsat_rc", "logiqa")
_AGIEVAL_COT = {
    "sat_en": "english",
    "sat_math": "math",
    "lsat_ar": "english",
    "lsat_lr": "english",
    "lsat_rc": "english",
    "logiqa": "math",
    "aqua_rat": "math",
    "math_agieval": "math",
}
# AGIEval v1 file names (github ruixiangcui/AGIEval data/v1) -> baber/agieval config.
_AGIEVAL_FILE_ALIASES = {"logiqa_en": "logiqa", "aqua_rat": "aqua_rat", "math": "math_agieval"}


def _fetch_agieval(load_dataset: LoadDataset) -> pd.DataFrame:
    """The 8 configs, test then few_shot split of each (s1 concatenated both)."""
    return _concat(
        (config, _load(load_dataset, "baber/agieval", config, split=split))
        for config in AGIEVAL_CONFIGS
        for split in AGIEVAL_SPLITS
    )


def _other_field(other: Any, key: str) -> Any:
    return other.get(key) if isinstance(other, Mapping) else None


def _level(value: Any) -> int | None:
    if _is_null(value):
        return None
    match = re.search(r"\d+", str(value))
    return int(match.group()) if match else None


def _normalise_agieval(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """s1's AGIEval rules, per config (``_subset`` column or file name, see module docstring).

    sat_en, sat_math, lsat_*, logiqa: question = passage.strip() + question + "\\n" + options
    joined by newlines -- exactly s1's text, which puts no separator between passage and
    question (kept so qhash matches s1). aqua_rat and math_agieval: the question alone;
    math_agieval keeps level 5 only (``level`` column, or ``other.level`` in v1 files).
    solution = ``solution`` (hub) or ``other.solution`` (v1 files), else null; the answer key
    (label / answer) stays in metadata.
    """
    require_columns(raw, ["question"], where)
    require_string_column(raw, "question", where)
    df = raw.reset_index(drop=True)
    configs = _subsets(df, where, preset="agieval", known=AGIEVAL_CONFIGS, aliases=_AGIEVAL_FILE_ALIASES)
    others = _column_or_none(df, "other")
    if any(c in _AGIEVAL_WITH_PASSAGE for c in configs):
        require_columns(df, ["passage", "options"], where)
    levels = [_level(v) for v in _column_or_none(df, "level")]
    levels = [
        lv if lv is not None else _level(_other_field(o, "level"))
        for lv, o in zip(levels, others, strict=True)
    ]
    keep = [c != "math_agieval" or lv == 5 for c, lv in zip(configs, levels, strict=True)]
    df = _keep(df, keep)
    configs = [c for c, k in zip(configs, keep, strict=True) if k]
    others = [o for o, k in zip(others, keep, strict=True) if k]

    questions, drop = [], ["question"]
    passages = _column_or_none(df, "passage")
    options = _column_or_none(df, "options")
    for config, passage, question, opts in zip(configs, passages, df["question"], options, strict=True):
        if config in _AGIEVAL_WITH_PASSAGE:
            lead = "" if _is_null(passage) else str(passage).strip()
            lines = [str(o) for o in (_as_list(opts) or [])]
            questions.append(lead + question + "\n" + "\n".join(lines))
        else:
            questions.append(question)
    solutions = _column_or_none(df, "solution")
    solutions = [
        s if not _is_null(s) else _other_field(o, "solution") for s, o in zip(solutions, others, strict=True)
    ]
    if "solution" in df.columns:
        drop.append("solution")
    return _emit(
        df,
        where=where,
        question=questions,
        solution=solutions,
        cot_type=[_AGIEVAL_COT[c] for c in configs],
        source=[f"baber/agieval/{c}" for c in configs],
        drop=drop,
        drop_per_row=[("passage", "options") if c in _AGIEVAL_WITH_PASSAGE else () for c in configs],
    )


# --------------------------------------------------------------------------- s1-prob, teasers, usaco


def _normalise_s1_prob(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """All 182 probability qualifier questions (source ``qfq/stats_qual``)."""
    require_columns(raw, ["question", "solution"], where)
    return _emit(
        raw, where=where, question="question", solution="solution", cot_type="math", source="qfq/stats_qual"
    )


def _normalise_s1_teasers(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """All brain-teasers; question stripped (source ``qfq/quant``)."""
    require_columns(raw, ["Question", "Answer"], where)
    return _emit(
        raw,
        where=where,
        question=_stripped(raw, "Question", where),
        solution="Answer",
        cot_type="math",
        source="qfq/quant",
        drop=["Question"],
    )


def _normalise_usacobench(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """All problems, question stripped, no solution."""
    require_columns(raw, ["question"], where)
    return _emit(
        raw,
        where=where,
        question=_stripped(raw, "question", where),
        cot_type="coding",
        source="codegenning/usacobench_formatted",
        drop=["question"],
    )


# --------------------------------------------------------------------------- GPQA


def _fetch_gpqa(load_dataset: LoadDataset) -> pd.DataFrame:
    """gpqa_extended plus gpqa_diamond (train splits); normalise drops diamond questions."""
    return _concat(
        (config, _load(load_dataset, "Idavidrein/gpqa", config, split="train"))
        for config in ("gpqa_extended", "gpqa_diamond")
    )


def _normalise_gpqa_extended(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """gpqa_extended rows whose Question is not in gpqa_diamond; solution = Explanation.

    With a ``_subset`` column, rows marked ``gpqa_diamond`` only define the exclusion list;
    without one, every row is taken as gpqa_extended. domain = Subdomain (else High-level domain).
    """
    require_columns(raw, ["Question", "Explanation"], where)
    df = raw.reset_index(drop=True)
    if SUBSET in df.columns:
        diamond = set(df.loc[df[SUBSET] == "gpqa_diamond", "Question"].tolist())
        df = _keep(
            df,
            [
                (s == "gpqa_extended") and (q not in diamond)
                for s, q in zip(df[SUBSET], df["Question"], strict=True)
            ],
        )
    return _emit(
        df,
        where=where,
        question="Question",
        solution="Explanation",
        domain=_first_present(df, "Subdomain", "High-level domain"),
        cot_type="science",
        source="Idavidrein/gpqa",
    )


# --------------------------------------------------------------------------- xword


def _normalise_xword(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """Every clue: question = instruction + "\\n\\n" + the clue text (the pool stage samples them)."""
    require_columns(raw, ["input", "output"], where)
    require_string_column(raw, "input", where)
    df = raw.reset_index(drop=True)
    clues = [text.split("### Clue: ")[1] if "### Clue: " in text else text for text in df["input"]]
    return _emit(
        df,
        where=where,
        question=[f"{XWORD_INSTRUCTION}\n\n{clue}" for clue in clues],
        solution="output",
        cot_type="crossword",
        source="0xharib/xword1",
        drop=["input"],
    )


# --------------------------------------------------------------------------- LiveCodeBench

# release_vN of code_generation_lite is cumulative over test.jsonl .. testN.jsonl; s1 loaded
# release_v1..v3 and kept the first occurrence of each question, which is the same as loading
# each release's new file once under its tag.
LIVECODEBENCH_FILES = {"release_v1": "test.jsonl", "release_v2": "test2.jsonl", "release_v3": "test3.jsonl"}


def _fetch_livecodebench(load_dataset: LoadDataset) -> pd.DataFrame:
    """Each release's own jsonl via ``data_files`` (the hub's loading script needs datasets < 4)."""
    return _concat(
        (tag, _load(load_dataset, "livecodebench/code_generation_lite", data_files=file, split="train"))
        for tag, file in LIVECODEBENCH_FILES.items()
    )


def _normalise_livecodebench(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """difficulty == "hard" only; question_content stripped; no solution; source ``LiveCodeBench/<tag>``."""
    require_columns(raw, ["question_content", "difficulty"], where)
    df = _keep(raw, (raw["difficulty"] == "hard").to_numpy())
    aliases = {Path(f).stem: tag for tag, f in LIVECODEBENCH_FILES.items()}
    tags = (
        _subsets(df, where, preset="livecodebench", known=tuple(LIVECODEBENCH_FILES), aliases=aliases)
        if len(df)
        else []
    )
    return _emit(
        df,
        where=where,
        question=_stripped(df, "question_content", where),
        cot_type="coding",
        source=[f"LiveCodeBench/{t}" for t in tags],
        drop=["question_content"],
    )


# --------------------------------------------------------------------------- AIME


def _aime_year(row_id: Any, year: Any) -> int | None:
    if not _is_null(row_id):
        match = re.match(r"\s*(\d{4})", str(row_id))
        if match:
            return int(match.group(1))
    return None if _is_null(year) else int(year)


def _normalise_aime(raw: pd.DataFrame, *, where: str, seed: int = 0) -> pd.DataFrame:
    """Years <= AIME_MAX_YEAR (from the ``ID`` prefix "1983-1", else ``Year``); solution = Answer."""
    require_columns(raw, ["Question", "Answer"], where)
    if "ID" not in raw.columns and "Year" not in raw.columns:
        require_columns(raw, ["ID"], where)
    years = [
        _aime_year(i, y)
        for i, y in zip(_column_or_none(raw, "ID"), _column_or_none(raw, "Year"), strict=True)
    ]
    df = _keep(raw, [y is not None and y <= AIME_MAX_YEAR for y in years])
    return _emit(
        df,
        where=where,
        question="Question",
        solution="Answer",
        cot_type="math",
        source="qq8933/AIME_1983_2024",
    )


# --------------------------------------------------------------------------- registry

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "openaimath",
            "simplescaling/openaimath",
            "math",
            "MATH train (~12K; s1's qfq/openaimath), all rows; domain = subject",
            _single("simplescaling/openaimath", "train"),
            _normalise_openaimath,
        ),
        Preset(
            "olympic_arena",
            "GAIR/OlympicArena",
            "science",
            "OlympicArena 7 subjects, test+val, English text-only; Math->math, CS->coding, else science",
            _fetch_olympic_arena,
            _normalise_olympic_arena,
        ),
        Preset(
            "theoremqa",
            "TIGER-Lab/TheoremQA",
            "math",
            "TheoremQA test, rows without a picture",
            _single("TIGER-Lab/TheoremQA", "test"),
            _normalise_theoremqa,
        ),
        Preset(
            "numinamath",
            "AI-MO/NuminaMath-CoT",
            "math",
            "NuminaMath-CoT train: all aops_forum + the 500 fixed questions of simplescaling/numinamath_500",
            _fetch_numinamath,
            _normalise_numinamath,
        ),
        Preset(
            "omni_math",
            "KbsdJames/Omni-MATH",
            "math",
            "Omni-MATH test, all rows",
            _single("KbsdJames/Omni-MATH", "test"),
            _normalise_omni_math,
        ),
        Preset(
            "scieval",
            "OpenDFM/SciEval",
            "science",
            "SciEval test+validation: 250 rows with an answer, balanced over task and topic, "
            "sampled after decontamination",
            _fetch_scieval,
            _normalise_scieval,
            _select_scieval,
            _select_scieval_s1,
        ),
        Preset(
            "olympiadbench",
            "Hothan/OlympiadBench",
            "math",
            "OlympiadBench OE/TP x maths/physics English text-only subsets",
            _fetch_olympiadbench,
            _normalise_olympiadbench,
        ),
        Preset(
            "jeebench",
            "daman1209arora/jeebench",
            "math",
            "JEEBench test, all rows (math/phy -> math, chem -> science)",
            _single("daman1209arora/jeebench", "test"),
            _normalise_jeebench,
        ),
        Preset(
            "agieval",
            "baber/agieval",
            "english",
            "AGIEval sat_en, sat_math, lsat_*, logiqa (passage+question+options), aqua_rat, math level 5",
            _fetch_agieval,
            _normalise_agieval,
        ),
        Preset(
            "s1_prob",
            "simplescaling/s1-prob",
            "math",
            "182 probability PhD-qualifier questions",
            _single("simplescaling/s1-prob", "train"),
            _normalise_s1_prob,
        ),
        Preset(
            "gpqa_extended",
            "Idavidrein/gpqa",
            "science",
            "GPQA extended minus the Diamond questions",
            _fetch_gpqa,
            _normalise_gpqa_extended,
        ),
        Preset(
            "xword",
            "0xharib/xword1",
            "crossword",
            "crossword clues with s1's instruction prefix; the first 1000 after decontamination and shuffle",
            _single("0xharib/xword1", "train"),
            _normalise_xword,
            _select_xword,
        ),
        Preset(
            "usacobench",
            "codegenning/usacobench_formatted",
            "coding",
            "USACO problems, no solution",
            _single("codegenning/usacobench_formatted", "test"),
            _normalise_usacobench,
        ),
        Preset(
            "s1_teasers",
            "simplescaling/s1-teasers",
            "math",
            "23 brain-teasers (s1's qfq/quant)",
            _single("simplescaling/s1-teasers", "train"),
            _normalise_s1_teasers,
        ),
        Preset(
            "livecodebench",
            "livecodebench/code_generation_lite",
            "coding",
            "LiveCodeBench release_v1..v3, difficulty hard, no solution",
            _fetch_livecodebench,
            _normalise_livecodebench,
        ),
        Preset(
            "aime_1983_2024",
            "qq8933/AIME_1983_2024",
            "math",
            "AIME problems of 1983-2022",
            _single("qq8933/AIME_1983_2024", "train"),
            _normalise_aime,
        ),
    )
}


def get_preset(name: str, where: str) -> Preset:
    """Return the preset called `name`; ConfigError naming `where` and the known presets otherwise."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"{where}: unknown preset {name!r}; known: {sorted(PRESETS)}") from None
