"""Evaluation-set questions (for decontamination now; for scoring in the generation stage).

An eval set is normalised to ``id``, ``question``, ``answer`` (nullable). Question and
answer fields are recognised by their usual names unless given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from s1flow.errors import InputFileError
from s1flow.io import require_string_column

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


def load_hub_eval_set(dataset: str, config: str | None, split: str, *, question_field: str | None = None,
                      answer_field: str | None = None, load_dataset: Callable[..., Any] | None = None,
                      data_files: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Load an eval set from the Hugging Face hub (e.g. simplescaling/aime24_nofigures).

    `data_files` loads only those files of the dataset (their split is ``train``).
    """
    if load_dataset is None:
        import datasets

        load_dataset = datasets.load_dataset
    extra = {"data_files": data_files if isinstance(data_files, str) else list(data_files)} if data_files else {}
    raw = load_dataset(dataset, config, split=split, **extra).to_pandas()
    return normalise_eval_set(raw, where=f"hub:{dataset}", question_field=question_field,
                              answer_field=answer_field)
