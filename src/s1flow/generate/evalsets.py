"""Eval sets: one loader for the hub and local files, the pool stage's normalised questions, and the
prompted benchmark a sweep runs (multiple-choice shuffling and prompt styles).

:func:`normalise_eval_set` maps any eval table to ``id``, ``question``, ``answer`` (nullable),
recognising the usual field names unless given (the pool stage decontaminates against these);
:func:`load_hub_table` reads a hub dataset for both.

A :class:`Benchmark` holds one row per question with ``qid``, ``question`` (the original
text), ``prompt`` (the user message sent to the model), ``answer`` (the gold math answer,
or the letter for multiple choice) and ``choices`` (a JSON list of the options for multiple
choice, else None).

Known names (:data:`HUB_BENCHMARKS`) load from the Hugging Face hub; anything else is a
local table (jsonl / json / csv / parquet) in the layout of the public copies (MATH500,
AIME, the official GPQA CSV) or of the embedded default's synthetic eval sets.

Prompt styles:

- ``"s1"``: what s1's lm-eval tasks send (``aime24_nofigures``, ``aime25_nofigures``,
  ``openai_math``, ``gpqa_diamond_openai``; S1_REFERENCE 9.3): a math question is the bare
  question text, ``'{Question}'``; a multiple-choice question is
  ``"{Question}\n\nA) {choice1}\nB) {choice2}\nC) {choice3}\nD) {choice4}"``. The texts
  are inserted as they are (no stripping), as ``str.format`` inserts them there.
- ``"simple-evals"``: OpenAI simple-evals' instruction templates ("Solve the following math
  problem step by step...", "Answer the following multiple choice question..."), which s1's
  task files carry only in comments.
- ``"plain"``: the question text alone (multiple choice: plus the lettered options unless the
  question already lists them), which is what the embedded default's models are trained on.

Dataset text is substituted in one pass over the template (never ``str.format``, never
eval'ed).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from s1flow.errors import ConfigError, InputFileError
from s1flow.io import FORMATS, read_table, require_string_column

__all__ = [
    "Benchmark",
    "HubSpec",
    "HUB_BENCHMARKS",
    "PROMPT_STYLES",
    "S1_MATH_TEMPLATE",
    "S1_MC_TEMPLATE",
    "SIMPLE_EVALS_MATH_TEMPLATE",
    "SIMPLE_EVALS_MC_TEMPLATE",
    "BENCHMARK_COLUMNS",
    "load_benchmark",
    "benchmark_from_table",
    "make_prompt",
    "shuffle_choices",
]

BENCHMARK_COLUMNS = ["qid", "question", "prompt", "answer", "choices"]
PROMPT_STYLES = ("s1", "simple-evals", "plain")
#: How GPQA-style choices are shuffled: per question from the seed and qid (row-order independent), or as
#: s1's ``gpqa_diamond_openai`` task does (one ``random.Random(0)`` stream over the rows in file order).
CHOICE_SHUFFLES = ("qid", "s1")
KINDS = ("math", "mc")

#: s1's math tasks (``aime24_nofigures``, ``aime25_nofigures``, ``openai_math``): the bare question.
S1_MATH_TEMPLATE = "{Question}"
#: s1's ``gpqa_diamond_openai`` task: the question, a blank line, then the four lettered choices.
S1_MC_TEMPLATE = "{Question}\n\nA) {A}\nB) {B}\nC) {C}\nD) {D}"

#: simple-evals ``QUERY_TEMPLATE`` (math), in comments of s1's math tasks.
SIMPLE_EVALS_MATH_TEMPLATE = (
    "Solve the following math problem step by step. The last line of your response should be of the form "
    "Answer: $ANSWER (without quotes) where $ANSWER is the answer to the problem.\n\n{Question}\n\n"
    'Remember to put your answer on its own line after "Answer:", and you do not need to use a \\boxed command.'
)
#: simple-evals ``QUERY_TEMPLATE_MULTICHOICE``, in comments of s1's ``gpqa_diamond_openai`` task.
SIMPLE_EVALS_MC_TEMPLATE = (
    "Answer the following multiple choice question. The last line of your response should be of the following "
    "format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. Think step by step before "
    "answering.\n\n{Question}\n\nA) {A}\nB) {B}\nC) {C}\nD) {D}"
)

GPQA_CHOICE_FIELDS = ("Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")
CHOICES_FIELDS = ("choices", "options")


QUESTION_FIELDS = ("question", "problem", "Question", "Problem")
ANSWER_FIELDS = ("answer", "Answer", "Correct Answer", "final_answer", "gold")
ID_FIELDS = ("id", "unique_id", "Record ID", "idx")


def _pick(df: pd.DataFrame, given: str | None, usual: Sequence[str], what: str, where: str) -> str | None:
    if given:
        if given not in df.columns:
            columns = sorted(map(str, df.columns))
            raise InputFileError(f"{where}: {what} field '{given}' not found; columns are {columns}")
        return given
    for name in usual:
        if name in df.columns:
            return name
    return None


def normalise_eval_set(df: pd.DataFrame, *, where: str, question_field: str | None = None,
                       answer_field: str | None = None) -> pd.DataFrame:
    """Map an eval table to id / question / answer, recognising the usual field names."""
    q = _pick(df, question_field, QUESTION_FIELDS, "question", where)
    if q is None:
        raise InputFileError(f"{where}: no question field; expected one of {list(QUESTION_FIELDS)} "
                             f"(or set question_field); columns are {sorted(map(str, df.columns))}")
    require_string_column(df, q, where)
    a = _pick(df, answer_field, ANSWER_FIELDS, "answer", where)
    i = _pick(df, None, ID_FIELDS, "id", where)
    ids = df[i].astype(str).tolist() if i else [str(k) for k in range(len(df))]
    answers = [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in df[a]] if a else None
    return pd.DataFrame({"id": ids, "question": df[q].tolist(),
                         "answer": answers if answers is not None else [None] * len(df)})


@dataclass(frozen=True)
class HubSpec:
    """Where a known benchmark lives on the Hugging Face hub."""

    dataset: str
    config: str | None = None
    split: str = "test"


#: Known benchmark names. Mutable on purpose: point a name elsewhere (or pass ``hub=`` to
#: :func:`load_benchmark`), e.g. ``TIGER-Lab/AIME25`` for the AIME25 copy s1's own code loads.
HUB_BENCHMARKS: dict[str, HubSpec] = {
    "aime24": HubSpec("simplescaling/aime24_nofigures", None, "train"),
    "aime25": HubSpec("simplescaling/aime25_nofigures", None, "train"),
    "math500": HubSpec("HuggingFaceH4/MATH-500", None, "test"),
    "gpqa_diamond": HubSpec("Idavidrein/gpqa", "gpqa_diamond", "train"),
}


@dataclass
class Benchmark:
    """One evaluation set: ``kind`` is ``"math"`` or ``"mc"``; ``items`` has :data:`BENCHMARK_COLUMNS`."""

    name: str
    kind: str
    items: pd.DataFrame
    source: str = ""
    prompt_style: str = "s1"

    def __len__(self) -> int:
        return len(self.items)


# --------------------------------------------------------------------------- prompts

_PLACEHOLDER_RE = re.compile(r"\{(Question|[A-Z])\}")


def _fill(template: str, values: Mapping[str, str]) -> str:
    """Replace ``{Question}`` / ``{A}``... in one pass over the template (inserted text is never rescanned)."""
    return _PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def _mc_template(n: int, style: str) -> str:
    """The style's multiple-choice template for `n` options (4: the task's own template)."""
    template = S1_MC_TEMPLATE if style == "s1" else SIMPLE_EVALS_MC_TEMPLATE
    if n == 4:
        return template
    letters = string.ascii_uppercase[:n]
    head = template.split("\n\nA) ", 1)[0].replace("one of ABCD", f"one of {letters}")
    return head + "\n\n" + "\n".join(f"{x}) {{{x}}}" for x in letters)


def _lists_choices(question: str, choices: list[str]) -> bool:
    """Whether the question text already lists its lettered options (as the synthetic MC questions do)."""
    return bool(re.search(r"\(A\)|\bA\)", question)) and all(c.strip() in question for c in choices)


def make_prompt(question: str, kind: str, style: str = "s1", choices: list[str] | None = None) -> str:
    """The user message for one question (see the module docstring for the styles)."""
    _check_style(style, "qid")
    if kind == "mc":
        if not choices:
            raise ValueError("a multiple-choice prompt needs its choices")
        letters = string.ascii_uppercase[: len(choices)]
        if style == "plain":
            if _lists_choices(question, choices):
                return question
            return question.rstrip() + "\n\n" + "\n".join(f"{x}) {c.strip()}" for x, c in zip(letters, choices,
                                                                                              strict=True))
        if style == "s1":  # s1's task inserts the dataset's text as it is
            values = {"Question": question} | dict(zip(letters, choices, strict=True))
        else:
            values = {"Question": question.strip()} | {x: c.strip() for x, c in zip(letters, choices, strict=True)}
        return _fill(_mc_template(len(choices), style), values)
    if kind != "math":
        raise ValueError(f"unknown benchmark kind {kind!r}; expected one of {list(KINDS)}")
    if style == "plain":
        return question
    if style == "s1":
        return _fill(S1_MATH_TEMPLATE, {"Question": question})
    return _fill(SIMPLE_EVALS_MATH_TEMPLATE, {"Question": question.strip()})


# --------------------------------------------------------------------------- multiple choice


def _choice_seed(seed: int, qid: str) -> int:
    digest = hashlib.sha256(f"s1flow-mc\x00{int(seed)}\x00{qid}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def shuffle_choices(correct: str, incorrect: list[str], *, seed: int, qid: str) -> tuple[list[str], str]:
    """(shuffled options, letter of the correct one); depends only on `seed` and `qid`, not on row order."""
    options = [correct, *incorrect]
    order = list(range(len(options)))
    random.Random(_choice_seed(seed, qid)).shuffle(order)
    return [options[i] for i in order], string.ascii_uppercase[order.index(0)]


# --------------------------------------------------------------------------- table -> benchmark


def _is_null(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(v != v)  # NaN / NA
    except (TypeError, ValueError):  # arrays
        return False


def _scalar_str(v: Any) -> str | None:
    """A gold answer / id as a string: ints stay ints (70, not 70.0); 1-element lists unwrap."""
    if hasattr(v, "tolist") and not isinstance(v, str):
        v = v.tolist()
    if isinstance(v, list | tuple):
        items = [s for s in (_scalar_str(x) for x in v) if s is not None]
        return ", ".join(items) if items else None
    if _is_null(v):
        return None
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    s = str(v).strip()
    return s or None


def _qids(df: pd.DataFrame, where: str) -> list[str]:
    col = _pick(df, None, ID_FIELDS, "id", where)
    if col is None:
        return [str(k) for k in range(len(df))]
    ids = []
    seen: dict[str, int] = {}
    for i, v in enumerate(df[col].tolist()):
        s = _scalar_str(v)
        if s is None:
            raise InputFileError(f"{where}: id column '{col}' is null in row {i} (of {len(df)} rows)")
        if s in seen:
            raise InputFileError(f"{where}: id column '{col}' has duplicate value {s!r} (rows {seen[s]} and {i})")
        seen[s] = i
        ids.append(s)
    return ids


def s1_shuffle_choices(correct: str, incorrect: list[str], rng: random.Random) -> tuple[list[str], str]:
    """s1's GPQA shuffle: ``[incorrect 1, 2, 3, correct]`` shuffled in place by `rng` (s1's task uses the
    global ``random`` seeded with 0 by the harness, drawing once per row in dataset order)."""
    options = [*incorrect, correct]
    rng.shuffle(options)
    return options, string.ascii_uppercase[options.index(correct)]


def _gpqa_items(df: pd.DataFrame, where: str, qids: list[str], seed: int, shuffle: str = "qid"
                ) -> tuple[list, list]:
    """(answer letters, shuffled options as in the file: not stripped, as s1's template inserts them)."""
    for field in GPQA_CHOICE_FIELDS:
        require_string_column(df, field, where)
    answers, choices = [], []
    rng = random.Random(0)
    for i, qid in enumerate(qids):
        opts = [str(df[f].iloc[i]) for f in GPQA_CHOICE_FIELDS]
        for f, o in zip(GPQA_CHOICE_FIELDS, opts, strict=True):
            if not o.strip():
                raise InputFileError(f"{where}: column '{f}' is empty in row {i} (of {len(df)} rows)")
        if shuffle == "s1":
            shuffled, letter = s1_shuffle_choices(opts[0], opts[1:], rng)
        else:
            shuffled, letter = shuffle_choices(opts[0], opts[1:], seed=seed, qid=qid)
        answers.append(letter)
        choices.append(shuffled)
    return answers, choices


def _parse_choices(v: Any, col: str, i: int, where: str) -> list[str]:
    if hasattr(v, "tolist") and not isinstance(v, str):
        v = v.tolist()
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except json.JSONDecodeError as exc:
            raise InputFileError(f"{where}: column '{col}' row {i} is not a JSON list ({exc.msg})") from exc
    if not isinstance(v, list) or not 2 <= len(v) <= 26 or not all(isinstance(c, str) and c.strip() for c in v):
        raise InputFileError(f"{where}: column '{col}' row {i} must be a list of 2-26 non-empty option strings")
    return v


def _listed_choice_items(df: pd.DataFrame, where: str, col: str, ans_col: str | None) -> tuple[list, list]:
    if ans_col is None:
        raise InputFileError(f"{where}: multiple-choice table (column '{col}') has no answer field; expected one "
                             f"of {list(ANSWER_FIELDS)}; columns are {sorted(map(str, df.columns))}")
    answers, choices = [], []
    for i, (raw, gold) in enumerate(zip(df[col].tolist(), df[ans_col].tolist(), strict=True)):
        if _is_null(raw):
            raise InputFileError(f"{where}: column '{col}' is null in row {i} (of {len(df)} rows) "
                                 "while other rows have choices")
        opts = _parse_choices(raw, col, i, where)
        letters = string.ascii_uppercase[: len(opts)]
        g = _scalar_str(gold)
        if g is not None and len(g.strip("()")) == 1 and g.strip("()").upper() in letters:
            letter = g.strip("()").upper()
        elif g is not None and g in [o.strip() for o in opts]:
            letter = letters[[o.strip() for o in opts].index(g)]
        else:
            raise InputFileError(f"{where}: column '{ans_col}' row {i} holds {g!r}, which is neither one of the "
                                 f"letters {letters} nor one of the options in '{col}'")
        answers.append(letter)
        choices.append(opts)
    return answers, choices


def _check_style(prompt_style: str, choice_shuffle: str) -> None:
    if prompt_style not in PROMPT_STYLES:
        raise ConfigError(f"generation.prompt_style: unknown prompt style {prompt_style!r}; expected one of "
                          f"{list(PROMPT_STYLES)}")
    if choice_shuffle not in CHOICE_SHUFFLES:
        raise ConfigError(f"generation.choice_shuffle: unknown shuffle {choice_shuffle!r}; expected one of "
                          f"{list(CHOICE_SHUFFLES)}")


def benchmark_from_table(df: pd.DataFrame, *, name: str, where: str, seed: int, prompt_style: str = "s1",
                         limit: int | None = None, source: str = "", choice_shuffle: str = "qid") -> Benchmark:
    """Build a :class:`Benchmark` from a raw table (`where` names the file in error messages).

    `choice_shuffle` (:data:`CHOICE_SHUFFLES`) orders GPQA-style options; ``"s1"`` draws from one
    ``random.Random(0)`` over the rows in order, as s1's task does (`seed` is then unused)."""
    _check_style(prompt_style, choice_shuffle)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a positive integer or None, got {limit!r}")
    if len(df) == 0:
        raise InputFileError(f"{where}: the table is empty (0 rows)")
    q_col = _pick(df, None, QUESTION_FIELDS, "question", where)
    if q_col is None:
        raise InputFileError(f"{where}: no question field; expected one of {list(QUESTION_FIELDS)}; "
                             f"columns are {sorted(map(str, df.columns))}")
    require_string_column(df, q_col, where)
    if limit is not None:
        df = df.iloc[:limit]
    df = df.reset_index(drop=True)
    qids = _qids(df, where)
    questions = df[q_col].tolist()
    choices_col = next((c for c in CHOICES_FIELDS if c in df.columns and df[c].map(lambda v: not _is_null(v)).any()),
                       None)
    ans_col = _pick(df, None, ANSWER_FIELDS, "answer", where)
    choices: list[list[str]] | list[None]
    if all(f in df.columns for f in GPQA_CHOICE_FIELDS):
        kind = "mc"
        answers, choices = _gpqa_items(df, where, qids, seed, choice_shuffle)
    elif choices_col is not None:
        kind = "mc"
        answers, choices = _listed_choice_items(df, where, choices_col, ans_col)
    else:
        kind = "math"
        if ans_col is None:
            raise InputFileError(f"{where}: no answer field; expected one of {list(ANSWER_FIELDS)}; "
                                 f"columns are {sorted(map(str, df.columns))}")
        answers = [_scalar_str(v) for v in df[ans_col].tolist()]
        for i, a in enumerate(answers):
            if a is None:
                raise InputFileError(f"{where}: answer column '{ans_col}' is null or empty in row {i} "
                                     f"(of {len(df)} rows)")
        choices = [None] * len(df)
    prompts = [make_prompt(q, kind, prompt_style, c) for q, c in zip(questions, choices, strict=True)]
    items = pd.DataFrame({
        "qid": qids,
        "question": questions,
        "prompt": prompts,
        "answer": answers,
        "choices": [json.dumps([o.strip() for o in c], ensure_ascii=False) if c is not None else None
                    for c in choices],
    }, columns=BENCHMARK_COLUMNS)
    return Benchmark(name=name, kind=kind, items=items, source=source, prompt_style=prompt_style)


# --------------------------------------------------------------------------- loading


def _hub_spec(hub: HubSpec | Mapping[str, Any]) -> HubSpec:
    if isinstance(hub, HubSpec):
        return hub
    if not isinstance(hub, Mapping) or not hub.get("dataset"):
        raise ConfigError(f"hub benchmark spec needs a 'dataset' (and optional 'config', 'split'); got {hub!r}")
    unknown = set(hub) - {"dataset", "config", "split"}
    if unknown:
        raise ConfigError(f"hub benchmark spec: unknown key(s) {sorted(unknown)}")
    return HubSpec(str(hub["dataset"]), hub.get("config"), str(hub.get("split") or "test"))


def load_hub_table(dataset: str, config: str | None, split: str, *,
                   load_dataset: Callable[..., Any] | None = None,
                   data_files: str | Sequence[str] | None = None) -> pd.DataFrame:
    """A hub dataset's split as a table (`data_files`: only those files, whose split is ``train``).

    `load_dataset` replaces ``datasets.load_dataset`` (tests, mirrors). A failure (network, a
    gated dataset such as GPQA, a missing split) is an InputFileError naming the dataset."""
    where = f"hub:{dataset}" + (f"[{config}]" if config else "") + f":{split}"
    if load_dataset is None:
        import datasets  # optional at import time: only hub eval sets need it

        load_dataset = datasets.load_dataset
    extra = {"data_files": data_files if isinstance(data_files, str) else list(data_files)} if data_files else {}
    try:
        ds = load_dataset(dataset, config, split=split, **extra)
        return ds.to_pandas() if hasattr(ds, "to_pandas") else pd.DataFrame(ds)
    except Exception as exc:  # network, auth (GPQA is gated), missing split ...: name the dataset
        raise InputFileError(f"{where}: cannot load from the Hugging Face hub ({type(exc).__name__}: {exc}); "
                             "download it and pass the local file instead, or fix the hub spec") from exc


def load_hub_eval_set(dataset: str, config: str | None, split: str, *, question_field: str | None = None,
                      answer_field: str | None = None, load_dataset: Callable[..., Any] | None = None,
                      data_files: str | Sequence[str] | None = None) -> pd.DataFrame:
    """An eval set from the Hugging Face hub (e.g. simplescaling/aime24_nofigures), normalised."""
    raw = load_hub_table(dataset, config, split, load_dataset=load_dataset, data_files=data_files)
    return normalise_eval_set(raw, where=f"hub:{dataset}", question_field=question_field,
                              answer_field=answer_field)


def load_benchmark(name_or_path: str | os.PathLike, *, seed: int, prompt_style: str = "s1",
                   limit: int | None = None, load_dataset: Callable[..., Any] | None = None,
                   name: str | None = None, hub: HubSpec | Mapping[str, Any] | None = None,
                   choice_shuffle: str = "qid") -> Benchmark:
    """Load a benchmark by known name (:data:`HUB_BENCHMARKS`, from the hub) or from a local table.

    `seed` fixes the multiple-choice shuffles (per question, from `seed` and the qid; with
    ``choice_shuffle="s1"``, s1's one stream seeded 0 over the rows instead).
    `limit` keeps the first rows. `load_dataset` replaces ``datasets.load_dataset`` (tests,
    mirrors). `hub` loads from that hub dataset instead (``{"dataset", "config", "split"}``).
    `name` defaults to the known name or the file stem.
    """
    if hub is not None or (isinstance(name_or_path, str) and name_or_path in HUB_BENCHMARKS):
        spec = _hub_spec(hub) if hub is not None else HUB_BENCHMARKS[str(name_or_path)]
        df = load_hub_table(spec.dataset, spec.config, spec.split, load_dataset=load_dataset)
        where = f"hub:{spec.dataset}"
        return benchmark_from_table(df, name=name or str(name_or_path), where=where,
                                    seed=seed, prompt_style=prompt_style, limit=limit, choice_shuffle=choice_shuffle,
                                    source=f"hub:{spec.dataset}" + (f"/{spec.config}" if spec.config else ""))
    path = Path(name_or_path)
    if not path.is_file():
        looks_like_file = (path.suffix.lower().lstrip(".") in (*FORMATS, "pq", "ndjson")
                           or os.sep in str(name_or_path) or "/" in str(name_or_path))
        if looks_like_file:
            raise InputFileError(f"{path}: file not found")
        raise InputFileError(f"{name_or_path}: not a known benchmark ({', '.join(HUB_BENCHMARKS)}) "
                             "and no such file")
    _check_style(prompt_style, choice_shuffle)  # fail before reading a large file
    df = read_table(path)
    return benchmark_from_table(df, name=name or path.stem, where=str(path), seed=seed, prompt_style=prompt_style,
                                limit=limit, source=str(path), choice_shuffle=choice_shuffle)
