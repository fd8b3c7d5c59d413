"""File-level entry points of each curation stage, shared by the workflow scripts and the CLI.

Each function reads its input files (validating columns), calls the pure library
functions and writes its outputs atomically, so a failed stage leaves no output that
looks complete.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from s1flow.config.settings import delimiters
from s1flow.config.sweeps import ModelSweep
from s1flow.decontaminate import PoolSettings, build_pool
from s1flow.errors import ConfigError, InputFileError
from s1flow.evalsets import load_hub_eval_set, normalise_eval_set
from s1flow.features import build_features, validate_features
from s1flow.io import read_table, require_string_column, write_json, write_parquet, write_table
from s1flow.nano import generate_eval_sets, generate_pool
from s1flow.pool import NORMALISED_COLUMNS, question_hash, validate_normalised, validate_pool
from s1flow.select import SelectionSettings, funnel, select_subset
from s1flow.sources import load_source, pool_source
from s1flow.sweep import sweep_to_file
from s1flow.tokenizer import load_tokenizer, train_bpe_tokenizer

log = logging.getLogger(__name__)
PathLike = str | os.PathLike


def run_synthesize(out_dir: PathLike, *, seed: int, pool_size: int, eval_size: int, duplicate_rate: float,
                   junk_rate: float) -> None:
    """Write the synthetic pool (questions.parquet), its teacher (teacher.parquet) and eval sets (eval/*.parquet)."""
    out = Path(out_dir)
    eval_sets = generate_eval_sets(seed, n_per_set=eval_size)
    pool = generate_pool(pool_size, seed, duplicate_rate=duplicate_rate, junk_rate=junk_rate, eval_sets=eval_sets)
    for name, df in eval_sets.items():
        write_parquet(df, out / "eval" / f"{name}.parquet")
    teacher = pd.DataFrame({"qhash": [question_hash(q) for q in pool["question"]], "trace": pool["trace"],
                            "attempt": pool["attempt"], "teacher_correct": pool["teacher_correct"].astype(bool)})
    teacher = teacher.drop_duplicates("qhash", keep="first")
    write_parquet(teacher, out / "teacher.parquet")
    write_parquet(pool[NORMALISED_COLUMNS], out / "questions.parquet")
    log.info("synthetic: %d pool questions, eval sets %s", len(pool), {k: len(v) for k, v in eval_sets.items()})


def run_load_source(spec: Mapping[str, Any], out: PathLike, *, seed: int,
                    synthetic_questions: PathLike | None = None) -> pd.DataFrame:
    """Load and normalise one configured source to a parquet file."""
    df = load_source(spec, seed=seed, synthetic_questions=synthetic_questions)
    write_parquet(df, out)
    log.info("source %s: %d questions", spec.get("name"), len(df))
    return df


def run_eval_set(spec: Mapping[str, Any], out: PathLike, *, synthetic_file: PathLike | None = None) -> pd.DataFrame:
    """Normalise one configured eval set to id / question / answer parquet."""
    kind, name = spec.get("kind"), spec.get("name")
    qf, af = spec.get("question_field"), spec.get("answer_field")
    if kind == "synthetic":
        if synthetic_file is None or not Path(synthetic_file).is_file():
            raise ConfigError(f"config eval_sets[{name}]: no synthetic eval set named '{name}'")
        df = normalise_eval_set(read_table(synthetic_file), where=str(synthetic_file))
    elif kind == "file":
        path = spec.get("path") or ""
        if not path:
            raise ConfigError(f"config eval_sets[{name}]: 'path' is required for kind 'file'")
        df = normalise_eval_set(read_table(path), where=path, question_field=qf, answer_field=af)
    elif kind == "hub":
        if not spec.get("dataset"):
            raise ConfigError(f"config eval_sets[{name}]: 'dataset' is required for kind 'hub'")
        df = load_hub_eval_set(spec["dataset"], spec.get("config"), spec.get("split", "test"),
                               question_field=qf, answer_field=af, data_files=spec.get("data_files"))
    else:
        raise ConfigError(f"config eval_sets[{name}]: unknown kind {kind!r}")
    write_parquet(df, out)
    log.info("eval set %s: %d questions", name, len(df))
    return df


def read_normalised(path: PathLike) -> pd.DataFrame:
    """Read a normalised source table written by :func:`run_load_source`."""
    df = read_table(path)
    validate_normalised(df, str(path))
    return df[NORMALISED_COLUMNS]


def read_questions(path: PathLike, field: str = "question") -> list[str]:
    """The `field` column of any table, validated as non-null strings."""
    df = read_table(path)
    require_string_column(df, field, str(path))
    return df[field].tolist()


def run_build_pool(sources: Sequence[tuple[str, PathLike]], eval_sets: Sequence[tuple[str, PathLike]],
                   out_pool: PathLike, out_report: PathLike, *, ngram: int = 8, cross_source: bool = True,
                   specs: Mapping[str, Mapping[str, Any]] | None = None,
                   decontamination: Mapping[str, Any] | None = None) -> None:
    """Decontaminate each normalised source in order, sample, deduplicate; write pool + report.

    `specs` maps a source name to its config entry (preset sampling, ``decontaminate``);
    `decontamination` is the config section (it replaces `ngram` and `cross_source`).
    """
    specs = specs or {}
    settings = PoolSettings.from_config(decontamination if decontamination is not None
                                        else {"ngram": ngram, "cross_source": cross_source})
    items = [pool_source(specs.get(name, {"name": name}), read_normalised(path), sampling=settings.sampling)
             for name, path in sources]
    evals = {name: read_questions(path) for name, path in eval_sets}
    pool, report = build_pool(items, evals, settings=settings)
    if len(pool) == 0:
        raise InputFileError(f"{out_pool}: no question survived deduplication/decontamination; see the report")
    write_json(report, out_report)
    write_parquet(pool, out_pool)
    log.info("pool: %s", report["totals"])


def parse_against(spec: str) -> tuple[str, str]:
    """Split ``FILE[:FIELD]`` (FIELD defaults to 'question')."""
    path, sep, field = spec.rpartition(":")
    if sep and path and "/" not in field and "\\" not in field and not Path(spec).exists():
        return path, field
    return spec, "question"


def run_decontaminate(pool_file: PathLike, against: Sequence[str], out: PathLike, *, ngram: int = 8,
                      report_file: PathLike | None = None, cross_source: bool = False) -> dict:
    """CLI form: decontaminate one question file against eval files and drop exact duplicates."""
    df = read_table(pool_file)
    require_string_column(df, "question", str(pool_file))
    evals: dict[str, list[str]] = {}
    for spec in against:
        path, field = parse_against(spec)
        evals[f"{Path(path).name}:{field}"] = read_questions(path, field)
    work = pd.DataFrame({"question": df["question"], "solution": None, "cot_type": "math",
                         "source": df["source"] if "source" in df.columns else "input",
                         "metadata": "{}", "domain": None})
    if cross_source and "source" in df.columns:
        groups = list(dict.fromkeys(work["source"]))
        frames = [(str(g), work[work["source"] == g]) for g in groups]
        original = [df[df["source"] == g] for g in groups]
    else:
        frames, original = [("input", work)], [df]
    kept_pool, report = build_pool(frames, evals, ngram=ngram, cross_source=cross_source)
    full = pd.concat(original, ignore_index=True)
    keep_hashes = set(kept_pool["qhash"])
    hashes = full["question"].map(question_hash)
    kept = full[hashes.isin(keep_hashes) & ~hashes.duplicated()].reset_index(drop=True)
    if report_file:
        write_json(report, report_file)
    write_table(kept, out)
    return report


def tokenizer_from_config(cfg: Mapping[str, Any], trained_dir: PathLike | None = None):
    """Load the tokenizer named by ``features.tokenizer`` (a trained one lives in `trained_dir`)."""
    kind = cfg.get("kind", "train")
    if kind == "train":
        if trained_dir is None:
            raise ConfigError("features.tokenizer.kind 'train' needs the trained tokenizer directory")
        return load_tokenizer(trained_dir)
    if kind == "vocab_merges":
        return load_tokenizer(vocab=cfg.get("vocab"), merges=cfg.get("merges"))
    if not cfg.get("path"):
        raise ConfigError(f"features.tokenizer.path is required for kind '{kind}'")
    return load_tokenizer(cfg["path"])


def run_train_tokenizer(pool_file: PathLike, out_dir: PathLike, *, teacher_file: PathLike | None = None,
                        vocab_size: int = 2048) -> None:
    """Train the embedded default's byte-level BPE on pool questions and teacher traces."""
    pool = read_table(pool_file)
    texts = pool["question"].tolist() + [s for s in pool["solution"] if isinstance(s, str)]
    if teacher_file:
        teacher = read_table(teacher_file)
        texts += [t for t in teacher["trace"] if isinstance(t, str)]
    train_bpe_tokenizer(texts, out_dir, vocab_size=vocab_size)


def run_features(pool_file: PathLike, out: PathLike, *, tokenizer_cfg: Mapping[str, Any],
                 trained_tokenizer: PathLike | None = None, label_files: Sequence[PathLike] = (),
                 aliases: Sequence[str] = (), trace_fallback: str = "none", domain_fallback: str = "none") -> None:
    """Build features.parquet from the pool, label tables and the tokenizer."""
    pool = read_table(pool_file)
    validate_pool(pool, str(pool_file))
    tokenizer = tokenizer_from_config(tokenizer_cfg, trained_tokenizer)
    labels = [(str(p), read_table(p)) for p in label_files]
    features = build_features(pool, tokenizer, labels=labels, aliases=aliases, trace_fallback=trace_fallback,
                              domain_fallback=domain_fallback, progress=True)
    write_parquet(features, out)
    log.info("features: %d rows, columns %s", len(features), list(features.columns))


def read_features(path: PathLike) -> pd.DataFrame:
    """Read and validate a feature table."""
    df = read_table(path)
    validate_features(df, str(path))
    return df


def run_select(features_file: PathLike, subset: str, settings: SelectionSettings, out: PathLike,
               details_out: PathLike | None = None) -> pd.DataFrame:
    """Write one subset (and, when asked, the details the funnel reports)."""
    features = read_features(features_file)
    chosen, details = select_subset(features, subset, settings)  # type: ignore[arg-type]
    if details_out:
        write_json(details, details_out)
    write_parquet(chosen, out)
    log.info("subset %s: %d rows, %d domains", subset, len(chosen), chosen["domain"].nunique())
    return chosen


def run_funnel(features_file: PathLike, subsets: Mapping[str, PathLike], details: Mapping[str, PathLike],
               settings: SelectionSettings, out: PathLike) -> dict:
    """Write funnel.json from the feature table and the written subsets."""
    features = read_features(features_file)
    tables = {name: read_table(p, allow_empty=True) for name, p in subsets.items()}
    info = {name: json.loads(Path(p).read_text(encoding="utf-8")) for name, p in details.items()}
    result = funnel(features, tables, settings, info)
    write_json(result, out)
    return result


def run_sweep(model: str, benchmark: PathLike, out: PathLike, *, evaluation: Mapping[str, Any],
              generation: Mapping[str, Any], seed: int, cache_dir: PathLike, name: str | None = None,
              judge: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The sweep rule: one model on one eval set. `evaluation` is the model's sweep
    (:meth:`s1flow.config.ModelSweep.to_params`), `generation` the validated ``generation`` section."""
    sweep = ModelSweep.from_params(evaluation)
    return sweep_to_file(
        model, benchmark, out, plan=sweep.sweep_plan(seed), seed=seed, engine=generation["engine"],
        engine_options=dict(generation.get("engine_options") or {}), prompt_style=generation["prompt_style"],
        delimiters=delimiters(generation), answer_max_tokens=int(generation["answer_max_tokens"]),
        max_gen_toks=int(generation.get("max_gen_toks") or 0) or None, cache_dir=cache_dir,
        chunk_size=int(generation["chunk_size"]), benchmark_name=name,
        judge=dict(judge) if judge and sweep.grader == "judge" else None, compat=generation["compat"],
        dtype=generation["dtype"], graded=sweep.graded_text, choice_shuffle=generation["choice_shuffle"])
