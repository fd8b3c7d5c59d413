"""Budget-forcing sweeps of one model on one benchmark -> samples.parquet.

A sweep is a list of settings (caps x Wait counts, optional minimum) plus optional
rejection-sampling caps and a majority-vote (parallel scaling) setting. An open plan runs
every setting, majority vote included, as the model's own response without budget forcing
(the baseline rows of a base model; see :mod:`s1flow.generate.budget`). Questions are
processed in chunks; each finished chunk is written to a cache directory with a
fingerprint of everything that determines its rows, so a killed sweep resumes where it
stopped and a changed sweep starts afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import pandas as pd
from tqdm import tqdm

from s1flow.engines import load_engine
from s1flow.engines.http import client_from_config
from s1flow.errors import ConfigError, InputFileError
from s1flow.generate.budget import COMPAT_MODES, BudgetForcer, Delimiters, Item, SampleResult, Sampling
from s1flow.generate.evalsets import Benchmark, load_benchmark
from s1flow.generate.grading import GRADED_TEXTS, SAMPLE_COLUMNS, answer_section, grade
from s1flow.generate.runners import rejection_sample, run_settings_separately, run_sweep
from s1flow.generate.setting import SETTING_COLUMNS, Forced, Open, Rejection, Setting, Vote
from s1flow.io import check_output, read_table, require_columns, write_parquet
from s1flow.judges import grading_messages, parse_yes_no
from s1flow.models import local_model_config, model_identity

log = logging.getLogger(__name__)
S = TypeVar("S", bound=Setting)


@dataclass
class SweepPlan:
    """What to run for every question of a benchmark: the settings (at `sampling`), rejection
    sampling at some caps, and a majority vote (each sampled at its own temperature)."""

    settings: list[Setting] = field(default_factory=list)
    sampling: Sampling = field(default_factory=Sampling)
    rejections: list[Rejection] = field(default_factory=list)
    rejection_max_tries: int = 16
    rejection_sampling: Sampling = field(default_factory=lambda: Sampling(temperature=1.0))
    vote: Vote | None = None
    vote_sampling: Sampling = field(default_factory=lambda: Sampling(temperature=1.0))
    open: bool = False

    def __post_init__(self) -> None:
        if self.open and self.rejections:
            raise ConfigError("rejection sampling resamples a thinking section; an open sweep has none "
                              f"(rejection caps {[r.cap for r in self.rejections]})")
        if self.open and (any(not s.open for s in self.settings) or (self.vote and not self.vote.open)):
            raise ConfigError("an open sweep runs open settings only")

    def fingerprint(self) -> dict:
        return {
            "settings": [s.fingerprint() for s in self.settings], "sampling": asdict(self.sampling),
            "rejections": [r.fingerprint() for r in self.rejections], "rejection_max_tries": self.rejection_max_tries,
            "rejection_sampling": asdict(self.rejection_sampling),
            "vote": self.vote.fingerprint() if self.vote else None, "vote_sampling": asdict(self.vote_sampling),
            "open": self.open,
        }


def settings_grid(caps: Sequence[int | str], waits: Sequence[int], *, min_thinking: int = 0,
                  ignore_str: str = "Wait", open: bool = False,
                  wait_caps: Sequence[int | str] | None = None) -> list[Setting]:
    """Every (cap, waits) pair of the two lists, caps outermost; with `open`, one open setting per cap.

    `wait_caps` (None: every cap) limits the Wait counts above 0 to those caps; the other caps run
    0 Waits only, as s1's sweep extends just its largest cap (cap auto plus 1/2/4/6 Waits)."""
    if not caps:
        raise ConfigError("a sweep needs at least one cap")
    if wait_caps is not None:
        stray = [c for c in wait_caps if c not in caps]
        if stray:
            raise ConfigError(f"wait caps {stray} are not among the caps {list(caps)}")
    if open:
        if any(waits) or min_thinking:
            raise ConfigError(f"an open sweep takes no Waits and no minimum thinking (waits {list(waits)}, "
                              f"min_thinking {min_thinking})")
        return [Open(cap=c) for c in caps]
    waits = list(waits or [0])
    return [Forced(cap=c, num_wait=w, min_thinking=min_thinking, ignore_str=ignore_str)
            for c in caps for w in (waits if wait_caps is None or c in wait_caps else [0])]


def parse_caps(text: str, what: str = "--caps") -> list[int | str]:
    """``"128,256,auto"`` -> [128, 256, "auto"], with a clear error naming `what` for anything else."""
    caps: list[int | str] = []
    for part in (p.strip() for p in text.split(",")):
        if part == "auto":
            caps.append("auto")
        elif part.isdigit() and int(part) > 0:
            caps.append(int(part))
        else:
            raise ConfigError(f"{what}: {part!r} is not a positive integer or 'auto'")
    return caps


def parse_ints(text: str, what: str) -> list[int]:
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part.isdigit():
            raise ConfigError(f"{what}: {part!r} is not a non-negative integer")
        out.append(int(part))
    return out


def sweep_rows(forcer: BudgetForcer, items: Sequence[Item], plan: SweepPlan, *, shared: bool = True
               ) -> list[SampleResult]:
    """All rows of a plan for some questions (not yet graded)."""
    rows: list[SampleResult] = []
    if plan.settings:
        runner = run_sweep if shared else run_settings_separately
        rows += runner(forcer, items, plan.settings, plan.sampling)
    for rejection in plan.rejections:
        rows += rejection_sample(forcer, items, rejection, max_tries=plan.rejection_max_tries,
                                 sampling=plan.rejection_sampling)
    if plan.vote:
        s = plan.vote_sampling
        vote_sampling = Sampling(temperature=s.temperature, samples=plan.vote.samples, seed=s.seed)
        rows += run_sweep(forcer, items, [plan.vote], vote_sampling)
    return rows


def graded_text(row: SampleResult, graded: str = "answer", delimiters: Delimiters | None = None) -> str:
    """The text a sample is graded on: its output's answer section (s1's rule, :func:`answer_section`)
    or, with ``graded="all"``, its thinking + answer."""
    if graded not in GRADED_TEXTS:
        raise ConfigError(f"evaluation.graded_text: {graded!r} is not one of {list(GRADED_TEXTS)}")
    if graded == "all":
        return row.thinking + row.answer
    d = delimiters or Delimiters()
    return answer_section(row.output, answer_start=d.answer_start, think_stop=d.think_stop)


def grade_rows(rows: Sequence[SampleResult], benchmark: Benchmark, *, judge=None,
               judge_cache: str | os.PathLike | None = None, graded: str = "answer",
               delimiters: Delimiters | None = None) -> pd.DataFrame:
    """samples.parquet rows: every sample graded on :func:`graded_text` (by default its answer section).

    Offline by default (math-verify / letter match). With `judge` (an OpenAI-compatible
    client), s1's grading prompt decides ``correct`` instead, shown the same text; a reply
    that does not end in Yes or No counts as wrong. ``extracted`` is always the offline
    extraction from that text.
    """
    gold = dict(zip(benchmark.items["qid"], benchmark.items["answer"], strict=True))
    question = dict(zip(benchmark.items["qid"], benchmark.items["question"], strict=True))
    texts = [graded_text(r, graded, delimiters) for r in rows]
    graded_rows = [grade(t, gold[r.qid], benchmark.kind) for r, t in zip(rows, texts, strict=True)]
    if judge is not None:
        if judge_cache is None:
            raise ConfigError("grading samples by judge needs a cache directory")
        keys = [hashlib.sha256(f"{r.qid}\x1f{r.setting}\x1f{r.sample}\x1f{t}".encode()).hexdigest()[:24]
                for r, t in zip(rows, texts, strict=True)]
        items = {k: grading_messages(question[r.qid], t, str(gold[r.qid]))
                 for k, r, t in zip(keys, rows, texts, strict=True)}
        replies = judge.chat_many(items, cache_dir=judge_cache, purpose=f"grade-{benchmark.name}")
        graded_rows = [(e, bool(parse_yes_no(replies[k].text)))
                       for k, (e, _) in zip(keys, graded_rows, strict=True)]
    per_question = Counter((r.qid, r.setting) for r in rows)
    records = []
    for r, (extracted, correct) in zip(rows, graded_rows, strict=True):
        records.append({"qid": r.qid, "setting": r.setting, "budget": r.budget, "num_wait": r.num_wait, **r.columns,
                        "samples_per_question": per_question[r.qid, r.setting], "sample": r.sample,
                        "thinking": r.thinking, "answer": r.answer, "thinking_tokens": r.thinking_tokens,
                        "answer_tokens": len(r.answer_ids),
                        "finish": r.finish, "extracted": extracted, "correct": bool(correct)})
    return samples_frame(records)


#: samples.parquet's column types (the text columns are str)
SAMPLE_DTYPES = {"qid": str, "setting": str, "method": str, "cap": "Int64", "budget": "Int64", "num_wait": "int64",
                 "min_thinking": "int64", "condition": str, "stated_budget": "Int64", "length_class": str,
                 "forced": bool, "samples_per_question": "int64", "sample": "int64", "thinking_tokens": "int64",
                 "answer_tokens": "int64", "finish": str, "correct": bool}


def samples_frame(records: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """A samples table with :data:`SAMPLE_COLUMNS` in order and :data:`SAMPLE_DTYPES`."""
    return pd.DataFrame(records, columns=SAMPLE_COLUMNS).astype(SAMPLE_DTYPES)


def validate_samples(df: pd.DataFrame, where: str) -> None:
    """Check a samples table has the documented columns and values."""
    missing = [c for c in [*SETTING_COLUMNS, "answer_tokens"] if c not in df.columns]
    if missing and "setting" in df.columns:
        raise InputFileError(f"{where}: no columns {missing}; the table was written before samples.parquet "
                             "recorded them (docs/file-formats.md): rerun its sweep")
    require_columns(df, SAMPLE_COLUMNS, where)
    bad = sorted(set(df["finish"]) - {"stop", "cap"})
    if bad:
        raise InputFileError(f"{where}: column 'finish' holds {bad}; expected 'stop' or 'cap'")


def read_samples(path: str | os.PathLike) -> pd.DataFrame:
    """Read a samples.parquet, checking the documented columns (an error names the file)."""
    df = read_table(path)
    validate_samples(df, str(path))
    return df


def run_benchmark_sweep(forcer: BudgetForcer, benchmark: Benchmark, plan: SweepPlan, *, shared: bool = True,
                        cache_dir: str | os.PathLike | None = None, chunk_size: int = 64,
                        fingerprint: dict | None = None, progress: bool = True, judge=None,
                        judge_cache: str | os.PathLike | None = None, graded: str = "answer") -> pd.DataFrame:
    """Sweep every question of `benchmark`; graded samples, ordered by question then setting.

    With `cache_dir`, each chunk of `chunk_size` questions is stored as it finishes and
    reused by a later call with the same fingerprint (plan, questions, and the caller's
    `fingerprint`, e.g. the model and engine).
    """
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
    if graded not in GRADED_TEXTS:
        raise ConfigError(f"evaluation.graded_text: {graded!r} is not one of {list(GRADED_TEXTS)}")
    items = [Item(str(q), forcer.prompt_ids(p), p)
             for q, p in zip(benchmark.items["qid"], benchmark.items["prompt"], strict=True)]
    if len({i.qid for i in items}) != len(items):
        raise InputFileError(f"benchmark {benchmark.name}: question ids are not unique")
    # the auto cap depends on the longest prompt of the whole benchmark, not of a chunk
    plan = _resolve_auto(forcer, items, plan)
    chunks = [items[k:k + chunk_size] for k in range(0, len(items), chunk_size)]
    cache = _ChunkCache(cache_dir, {"plan": plan.fingerprint(), "shared": shared, "chunk_size": chunk_size,
                                    "benchmark": benchmark.name, "kind": benchmark.kind,
                                    "questions": _digest(benchmark.items), "judge": getattr(judge, "model", None),
                                    "graded": graded, "compat": forcer.compat, **(fingerprint or {})}) \
        if cache_dir else None
    frames = []
    for k, chunk in enumerate(tqdm(chunks, desc=f"sweep {benchmark.name}", unit="chunk", disable=not progress)):
        cached = cache.load(k) if cache else None
        if cached is not None and list(cached.columns) != SAMPLE_COLUMNS:
            cached = None  # a chunk stored before samples.parquet had its present columns
        if cached is not None:
            frames.append(cached)
            continue
        df = grade_rows(sweep_rows(forcer, chunk, plan, shared=shared), benchmark, judge=judge,
                        judge_cache=judge_cache, graded=graded, delimiters=forcer.delimiters)
        if cache:
            cache.store(k, df)
        frames.append(df)
    return samples_frame(pd.concat(frames, ignore_index=True)) if frames else samples_frame([])


def _resolve_auto(forcer: BudgetForcer, items: Sequence[Item], plan: SweepPlan) -> SweepPlan:
    """Replace ``auto`` caps by their value for the whole benchmark (the labels keep ``auto``)."""
    def fix(s: S) -> S:
        if s.cap != "auto":
            return s
        # compat s1: the longest prompt of the task as asked, a conditional one with its sentence (s1's
        # harness); s1flow: the longest plain prompt, so every setting of a sweep shares one auto cap
        asked = forcer.conditioned(items, s) if forcer.compat == "s1" else items
        return s.resolved(forcer.resolve_cap("auto", asked))

    return replace(plan, settings=[fix(s) for s in plan.settings], rejections=[fix(r) for r in plan.rejections],
                   vote=fix(plan.vote) if plan.vote else None)


def _digest(items: pd.DataFrame) -> str:
    h = hashlib.sha256()
    for q, p, a in zip(items["qid"], items["prompt"], items["answer"], strict=True):
        h.update(f"{q}\x1f{p}\x1f{a}\x1e".encode())
    return h.hexdigest()[:16]


class _ChunkCache:
    """Finished chunks of a sweep on disk, valid while the fingerprint is unchanged."""

    def __init__(self, root: str | os.PathLike, fingerprint: dict) -> None:
        self.root = Path(root)
        stamp = json.dumps(fingerprint, sort_keys=True, default=str)
        meta = self.root / "fingerprint.json"
        if self.root.exists() and (not meta.is_file() or meta.read_text() != stamp):
            log.info("%s: sweep changed; discarding cached chunks", self.root)
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        if not meta.is_file():
            meta.write_text(stamp)

    def _path(self, k: int) -> Path:
        return self.root / f"chunk-{k:05d}.parquet"

    def load(self, k: int) -> pd.DataFrame | None:
        p = self._path(k)
        if not p.is_file():
            return None
        log.info("%s: reusing finished chunk", p)
        return pd.read_parquet(p)

    def store(self, k: int, df: pd.DataFrame) -> None:
        write_parquet(df, self._path(k))


def context_length(model: str | os.PathLike, default: int = 32768) -> int:
    """The model's context length from its local config.json (``max_position_embeddings``), else `default`."""
    value = (local_model_config(model) or {}).get("max_position_embeddings")
    return value if isinstance(value, int) and value > 0 else default


def sweep_to_file(model: str | os.PathLike, benchmark: str | os.PathLike, out: str | os.PathLike, *,
                  plan: SweepPlan, seed: int = 0, engine: str = "transformers", engine_options: dict | None = None,
                  prompt_style: str = "s1", limit: int | None = None, delimiters=None, answer_max_tokens: int = 512,
                  max_gen_toks: int | None = None, shared: bool = True, cache_dir: str | os.PathLike | None = None,
                  chunk_size: int = 64, benchmark_name: str | None = None, judge: dict | None = None,
                  compat: str = "s1flow", dtype: str = "auto", graded: str = "answer",
                  choice_shuffle: str = "qid") -> pd.DataFrame:
    """Load model and benchmark, run the sweep and write samples.parquet (the ``s1flow sweep`` command).

    `judge` (an endpoint config: base_url, model, api_key_env, ...) grades with s1's LLM-judge
    prompt instead of offline; its replies are cached under `cache_dir` (or next to `out`).
    `compat` is the budget-forcing semantics (:data:`~s1flow.generate.budget.COMPAT_MODES`), `dtype` the
    engine's precision (s1 evaluates in float32), `graded` what is graded (:func:`graded_text`).
    """
    check_output(out, inputs=[benchmark, model], formats=("parquet",))  # checked before a model loads
    if cache_dir is not None:
        check_output(cache_dir, inputs=[benchmark, model, out], directory=True)
    if compat not in COMPAT_MODES:
        raise ConfigError(f"generation.compat: {compat!r} is not one of {list(COMPAT_MODES)}")
    if graded not in GRADED_TEXTS:
        raise ConfigError(f"evaluation.graded_text: {graded!r} is not one of {list(GRADED_TEXTS)}")
    engine_options = engine_options_with_dtype(engine, engine_options, dtype)
    bench = load_benchmark(str(benchmark), seed=seed, prompt_style=prompt_style, limit=limit, name=benchmark_name,
                           choice_shuffle=choice_shuffle)
    client = None
    if judge:
        client = client_from_config(judge, "judge")
    backend = load_engine(engine, model, **(engine_options or {}))
    forcer = BudgetForcer(backend, backend.tokenizer, delimiters=delimiters, answer_max_tokens=answer_max_tokens,
                          max_gen_toks=max_gen_toks or context_length(model), compat=compat)
    fingerprint = {"model": model_identity(model), "engine": engine, "engine_options": engine_options or {},
                   "delimiters": asdict(forcer.delimiters), "answer_max_tokens": answer_max_tokens,
                   "max_gen_toks": forcer.max_gen_toks, "seed": seed, "prompt_style": prompt_style,
                   "choice_shuffle": choice_shuffle,
                   "stop_ids": [list(forcer.think_stop_ids), list(forcer.answer_stop_ids)]}
    judge_cache = Path(cache_dir or Path(out).parent) / "judge" if client else None
    df = run_benchmark_sweep(forcer, bench, plan, shared=shared, cache_dir=cache_dir, chunk_size=chunk_size,
                             fingerprint=fingerprint, judge=client, judge_cache=judge_cache, graded=graded)
    write_parquet(df, out)
    return df


#: Engine precisions (``generation.dtype``); s1's evaluation commands pass ``dtype=float32`` to vLLM.
DTYPES = ("auto", "float32", "bfloat16", "float16")


def engine_options_with_dtype(engine: str, engine_options: dict | None, dtype: str) -> dict:
    """The engine options with ``generation.dtype`` applied (a clear error for a conflict or an engine
    whose precision is set elsewhere)."""
    options = dict(engine_options or {})
    if dtype not in DTYPES:
        raise ConfigError(f"generation.dtype: {dtype!r} is not one of {list(DTYPES)}")
    if dtype == "auto":
        return options
    if engine == "openai":
        raise ConfigError(f"generation.dtype: {dtype!r} cannot apply to engine 'openai' (the server's precision "
                          "is set where it is started, e.g. `vllm serve --dtype float32`); leave it 'auto'")
    given = options.get("dtype")
    if given not in (None, "auto", dtype):
        raise ConfigError(f"generation.dtype is {dtype!r} but generation.engine_options.dtype is {given!r}; "
                          "set one of them")
    options["dtype"] = dtype
    return options
