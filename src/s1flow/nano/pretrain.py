"""The nano base model's pretraining data: direct answers, and worked solutions when asked for them.

The toy mirror of an instruct model: it answers easy questions directly and can work a problem
step by step when the question asks it to; s1's fine-tuning then teaches it to think first on
its own. The ``models.<name>.pretrain`` config section chooses the mix.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping, Sequence

import pandas as pd

from s1flow.curate.pool import question_hash
from s1flow.errors import ConfigError
from s1flow.io import read_table, require_columns
from s1flow.nano.assemble import PHRASINGS, generate_pool, generate_worked_solutions
from s1flow.train.sft import assistant_content

PathLike = str | os.PathLike
#: placeholder of the question in a ``pretrain.worked_prompt`` template
QUESTION_SLOT = "{question}"


def direct_answer_rows(pool_file: PathLike | None, *, limit: int | None, seed: int,
                       data: str = "synthetic") -> pd.DataFrame:
    """Questions with a short reference answer, for the base model's direct-answer pretraining.

    ``data: synthetic`` draws fresh problems from the embedded generator with another seed,
    so the base model learns the tasks rather than the pool's answers (the difficulty
    labels it later computes on the pool would otherwise measure memory); ``pool`` samples
    the pool itself.
    """

    n = limit or 2000
    if data == "synthetic":
        fresh = generate_pool(n, seed=seed + 7919, duplicate_rate=0, near_duplicate_rate=0, junk_rate=0,
                              eval_overlap=0)
        rows = fresh.assign(qhash=fresh["question"].map(question_hash))
    elif data == "pool":
        if pool_file is None:
            raise ConfigError("config key 'models.<name>.pretrain.data': 'pool' needs the pool")
        rows = read_table(pool_file)
        require_columns(rows, ["qhash", "question", "solution"], str(pool_file))
    else:
        raise ConfigError(f"config key 'models.<name>.pretrain.data' must be 'synthetic' or 'pool', got {data!r}")
    rows = rows[rows["solution"].notna() & (rows["solution"].astype(str).str.len() <= 64)]
    if len(rows) > n:
        rows = rows.sample(n=n, random_state=seed)
    return rows[["qhash", "question", "solution"]].reset_index(drop=True)


def ask_for_work(question: str, template: str) -> str:
    """The question with a request to show the work: `template`'s ``{question}`` slot filled,
    or, for a template without the slot, the request appended after a blank line."""
    if QUESTION_SLOT in template:
        return template.replace(QUESTION_SLOT, question)
    return f"{question}\n\n{template}"


def worked_prompt_templates(prompt: str | Sequence[str]) -> list[str]:
    """The request templates of ``pretrain.worked_prompt`` (one string or a list), checked."""
    key = "config key 'models.<name>.pretrain.worked_prompt'"
    templates = [prompt] if isinstance(prompt, str) else list(prompt)
    if not templates:
        raise ConfigError(f"{key} is an empty list; give one request or a list of templates")
    for t in templates:
        if not isinstance(t, str) or not t.replace(QUESTION_SLOT, "").strip():
            raise ConfigError(f"{key}: every entry must be a non-empty request, got {t!r}")
        if t.count(QUESTION_SLOT) > 1:
            raise ConfigError(f"{key}: {t!r} has {QUESTION_SLOT} more than once")
    return templates


def worked_solution_rows(n: int, *, domains: list[str] | Mapping[str, float], seed: int,
                         prompt: str | Sequence[str], phrasing: str = "pool", fmt: str = "plain",
                         unasked: float = 0.0) -> pd.DataFrame:
    """Worked solutions of fresh synthetic problems, each asked for with a request from `prompt`.

    The nano base model learns from them that it *can* work a problem step by step when
    asked to; by default (no such request) it still answers directly. s1's fine-tuning then
    teaches it to think first on its own, inside the thinking section. `fmt` "plain" writes
    the steps then "Answer: x"; "think" writes them in s1's thinking/answer sections, so
    fine-tuning only has to teach the model to think unasked. `prompt` is one request or a
    list of templates drawn per row (seeded): a template with a ``{question}`` slot places the
    request around the question, one without is appended after it. Several placements keep a
    small model from reading the question at one fixed distance from the end of the prompt.
    A share `unasked` of the problems is also given without a request and answered directly,
    so the model learns that the request, not the kind of question, calls for the steps.
    """

    if phrasing not in PHRASINGS:
        raise ConfigError(f"config key 'models.<name>.pretrain.worked_phrasing' must be 'pool', 'eval' or 'any', "
                          f"got {phrasing!r}")
    try:
        worked = generate_worked_solutions(n, seed + 104729, domains, phrasing=phrasing)
    except ValueError as e:
        raise ConfigError(f"config key 'models.<name>.pretrain.worked_domains': {e}") from None
    if fmt not in ("plain", "think"):
        raise ConfigError(f"config key 'models.<name>.pretrain.worked_format' must be 'plain' or 'think', got {fmt!r}")
    if not 0.0 <= unasked <= 1.0:
        raise ConfigError(f"config key 'models.<name>.pretrain.worked_unasked' must be in [0, 1], got {unasked}")
    templates = worked_prompt_templates(prompt)
    rng = random.Random(seed + 7919)
    questions = pd.Series([ask_for_work(q, rng.choice(templates)) for q in worked["question"]], dtype=object)
    if fmt == "think":
        solutions = [assistant_content(t, a) for t, a in zip(worked["trace"], worked["answer"], strict=True)]
    else:
        solutions = worked["trace"] + "\n\nAnswer: " + worked["answer"]
    rows = pd.DataFrame({"question": questions, "solution": solutions})
    k = round(unasked * len(worked))
    if k:
        plain = pd.DataFrame({"question": worked["question"][:k], "solution": "Answer: " + worked["answer"][:k]})
        rows = pd.concat([rows, plain], ignore_index=True)
    return rows.assign(qhash=rows["question"].map(question_hash))[["qhash", "question", "solution"]]
