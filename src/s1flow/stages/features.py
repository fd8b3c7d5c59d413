"""The feature rules (workflow/rules/features.smk): the tokenizer and the feature table.

Each function reads its input files (validating columns), calls the library functions and
writes its outputs atomically, so a failed stage leaves no output that looks complete.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from s1flow.curate.features import build_features
from s1flow.curate.pool import validate_normalised, validate_pool, with_qhash
from s1flow.curate.tokenizer import load_tokenizer, train_bpe_tokenizer
from s1flow.errors import ConfigError, InputFileError
from s1flow.io import check_output, read_table, require_unique, write_parquet

log = logging.getLogger(__name__)
PathLike = str | os.PathLike


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
    """Build features.parquet from the pool, label tables and the tokenizer.

    The pool may also be a normalised source table (``s1flow source`` or ``decontaminate`` output):
    its ``qhash`` is computed when the column is absent.
    """
    tokenizer_files = [tokenizer_cfg.get(k) for k in ("vocab", "merges", "path")]
    check_output(out, inputs=[pool_file, *label_files, *tokenizer_files], formats=("parquet",))
    pool = read_table(pool_file)
    if "qhash" not in pool.columns:
        validate_normalised(pool, str(pool_file))
        pool = with_qhash(pool)
    validate_pool(pool, str(pool_file))
    tokenizer = tokenizer_from_config(tokenizer_cfg, trained_tokenizer)
    labels = [(str(p), read_table(p)) for p in label_files]
    known = set(pool["qhash"])
    for where, table in labels:
        if "qhash" in table.columns:
            matched = int(table["qhash"].isin(known).sum())
            if matched == 0 and len(table):
                raise InputFileError(f"{where}: none of its {len(table)} qhash values is a question of the pool "
                                     f"{pool_file}; are these labels of another pool? (qhash: sha256 of the "
                                     "question, 16 hex digits)")
            log.info("%s: labels for %d of %d pool questions", where, matched, len(pool))
    features = build_features(pool, tokenizer, labels=labels, aliases=aliases, trace_fallback=trace_fallback,
                              domain_fallback=domain_fallback, progress=True)
    require_unique(features, "qhash", str(out))
    write_parquet(features, out)
    log.info("features: %d rows, columns %s", len(features), list(features.columns))
