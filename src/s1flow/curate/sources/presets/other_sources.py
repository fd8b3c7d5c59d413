"""The coding sources (USACO, LiveCodeBench) and the crossword clues (XWord).

XWord is sampled after decontamination (:func:`_select_xword`); its sample size is read at
call time from :data:`s1flow.curate.sources.presets.base.XWORD_SAMPLE_SIZE`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from s1flow.curate.sources.presets import base  # the sample sizes, read at call time
from s1flow.curate.sources.presets.base import LoadDataset, _concat, _emit, _keep, _load, _stripped, _subsets
from s1flow.io import require_columns, require_string_column

XWORD_INSTRUCTION = (
    "Solve the crossword puzzle. "
    "You are presented with a clue as input and the number of letters in brackets."
)


# --------------------------------------------------------------------------- xword


def _select_xword(df: pd.DataFrame) -> np.ndarray:
    """The first XWORD_SAMPLE_SIZE rows (of the shuffled, decontaminated table)."""
    return np.arange(min(len(df), base.XWORD_SAMPLE_SIZE), dtype=np.int64)


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


# --------------------------------------------------------------------------- USACO


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
