"""The synthesize rule: the embedded synthetic pool, teacher traces and eval sets (s1flow.nano).

Each function reads its input files (validating columns), calls the library functions and
writes its outputs atomically, so a failed stage leaves no output that looks complete.
"""

from __future__ import annotations

import logging
import os

import pandas as pd

from s1flow.curate.pool import NORMALISED_COLUMNS, question_hash
from s1flow.io import check_output, write_parquet
from s1flow.nano import generate_eval_sets, generate_pool

log = logging.getLogger(__name__)
PathLike = str | os.PathLike


def run_synthesize(out_dir: PathLike, *, seed: int, pool_size: int, eval_size: int, duplicate_rate: float,
                   junk_rate: float) -> None:
    """Write the synthetic pool (questions.parquet), its teacher (teacher.parquet) and eval sets (eval/*.parquet)."""
    out = check_output(out_dir, directory=True)
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
