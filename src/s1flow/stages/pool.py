"""The pool rules (workflow/rules/pool.smk): one normalised table per source and eval set, then the
decontaminated, deduplicated pool; and ``s1flow decontaminate`` on the user's own files.

Each function reads its input files (validating columns), calls the library functions and
writes its outputs atomically, so a failed stage leaves no output that looks complete.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from s1flow.curate.decontaminate import PoolSettings, build_pool
from s1flow.curate.pool import NORMALISED_COLUMNS, question_hash, validate_normalised
from s1flow.curate.sources import load_source, pool_source
from s1flow.errors import ConfigError, InputFileError
from s1flow.generate.evalsets import load_hub_eval_set, normalise_eval_set
from s1flow.io import (
    FORMATS,
    check_output,
    read_table,
    require_nonblank,
    require_string_column,
    require_unique,
    write_json,
    write_parquet,
    write_table,
)

log = logging.getLogger(__name__)
PathLike = str | os.PathLike


def run_load_source(spec: Mapping[str, Any], out: PathLike, *, seed: int,
                    synthetic_questions: PathLike | None = None) -> pd.DataFrame:
    """Load and normalise one configured source to a table (the suffix of `out` sets its format)."""
    check_output(out, inputs=[spec.get("path"), synthetic_questions], formats=FORMATS)
    df = load_source(spec, seed=seed, synthetic_questions=synthetic_questions)
    write_table(df, out)
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
    require_unique(pool, "qhash", str(out_pool))
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
    inputs = [pool_file, *(parse_against(spec)[0] for spec in against)]
    check_output(out, inputs=inputs, formats=FORMATS)
    if report_file:
        check_output(report_file, inputs=[*inputs, out], formats=("json",))
    df = read_table(pool_file)
    require_string_column(df, "question", str(pool_file))
    require_nonblank(df, "question", str(pool_file))
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
