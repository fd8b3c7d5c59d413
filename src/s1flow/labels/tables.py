"""Labels computed by models, written as label tables keyed by qhash (S1_REFERENCE section 2).

- difficulty: a model answers every pool question (chat template, no thinking phase) and
  each attempt is graded against the reference solution -> ``correct_<alias>``;
- teacher grades: the teacher's attempt graded the same way -> ``teacher_correct``;
- domains: an LLM judge picks one code of the MSC rubric -> ``domain``;
- teacher traces: a teacher model behind an OpenAI-compatible endpoint writes a trace and
  an attempt for each question that has none -> ``trace``, ``attempt``.

Grading is offline by rule (math-verify on the boxed / short reference answer, letters for
multiple choice) or by an LLM judge with s1's grading prompt. A question without a
reference solution, or whose reference the rule cannot reduce to an answer, gets a null
grade, as in s1. A judge reply without a valid answer (a final Yes/No, a known MSC code) is
asked again, up to ``JudgeSettings.reply_tries`` times; an item that never gets one keeps a
null label and is counted as failed in the stage's report, never given another label.
Every model call is cached per qhash so a killed job resumes.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from s1flow.engines.base import Engine, GenerationRequest
from s1flow.errors import ConfigError
from s1flow.generate.budget import request_seed
from s1flow.generate.grading import extract_answer, is_correct
from s1flow.io import atomic_path
from s1flow.judges import (
    REPLY_PARSING,
    domain_messages,
    grading_messages,
    load_rubric,
    parse_domain_code,
    parse_yes_no,
    split_teacher_reply,
    teacher_messages,
)

log = logging.getLogger(__name__)

GRADERS = ("rule", "judge")
#: failed items named one by one in the log (all of them are in the report)
LOGGED_FAILURES = 20
_LETTER = re.compile(r"^\(?([A-J])\)?\.?$")
SHORT_ANSWER_CHARS = 64
#: questions per engine call when the engine has no ``batch_size`` of its own
DEFAULT_CHUNK = 64


def gold_answer(solution: str | None) -> tuple[str | None, str]:
    """The gradeable answer of a reference solution and its kind (``math`` or ``mc``).

    The last ``\\boxed{}`` of a worked solution, or the whole solution when it is short;
    a single letter is a multiple-choice answer. None when neither applies.
    """
    if not isinstance(solution, str) or not solution.strip():
        return None, "math"
    text = solution.strip()
    boxed = extract_answer(text, "math") if "\\boxed" in text or "\\fbox" in text else None
    gold = boxed if boxed else (text if len(text) <= SHORT_ANSWER_CHARS else None)
    if gold is None:
        return None, "math"
    m = _LETTER.match(gold.strip())
    return (m.group(1), "mc") if m else (gold, "math")


def rule_grade(attempt: str | None, solution: str | None) -> bool | None:
    """Grade an attempt against a reference solution offline; None when it cannot be graded."""
    gold, kind = gold_answer(solution)
    if gold is None:
        return None
    if not isinstance(attempt, str) or not attempt.strip():
        return False
    extracted = extract_answer(attempt, kind)
    if extracted is None:
        return False
    return bool(is_correct(extracted, gold, kind))


class JsonlCache:
    """Per-key results appended to a JSONL file; the first line fingerprints the job.

    A file with another fingerprint is discarded, so a changed model or prompt recomputes.
    Each :meth:`put_many` appends whole lines and syncs them before returning, so a kill
    loses at most the batch being written. A last line cut by a kill (no newline, or not
    JSON) is cut off the file when it is opened, so the next append starts a line of its own
    and the key it held is computed again; a key written twice keeps its last value.
    """

    def __init__(self, path: str | os.PathLike, fingerprint: Mapping) -> None:
        self.path = Path(path)
        self.stamp = json.dumps({"fingerprint": fingerprint}, sort_keys=True, default=str)
        self.data: dict[str, object] = {}
        if self.path.is_file():
            raw = self.path.read_bytes()
            lines = raw.split(b"\n")
            if lines[0].decode("utf-8", errors="replace") == self.stamp and len(lines) > 1:
                self._load(raw, lines)
            else:
                log.info("%s: job changed; discarding cached results", self.path)
                self.path.unlink()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.is_file():
            self._write_stamp()

    def _load(self, raw: bytes, lines: list[bytes]) -> None:
        """Read the cached lines after the stamp; cut a torn last line off the file."""
        good_end = len(lines[0]) + 1  # bytes of the file up to the end of the last whole record
        offset = good_end
        for i, line in enumerate(lines[1:], start=1):
            complete = i < len(lines) - 1  # the piece after the last newline has none
            end = offset + len(line) + (1 if complete else 0)
            try:
                rec = json.loads(line) if complete and line.strip() else None
            except ValueError:
                rec = None
            if isinstance(rec, dict) and "key" in rec and "value" in rec:
                self.data[rec["key"]] = rec["value"]
                good_end = end
            elif complete and line.strip():
                log.warning("%s: line %d is not a cached result; its key is computed again", self.path, i + 1)
                good_end = end  # a whole line: later records stay readable after it
            elif complete:
                good_end = end
            offset = end
        if good_end < len(raw):
            log.info("%s: cutting %d bytes of a record a kill left unfinished", self.path, len(raw) - good_end)
            with self.path.open("r+b") as fh:
                fh.truncate(good_end)
                fh.flush()
                os.fsync(fh.fileno())

    def _write_stamp(self) -> None:
        with atomic_path(self.path) as tmp, tmp.open("w", encoding="utf-8") as fh:
            fh.write(self.stamp + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str):
        return self.data.get(key)

    def put_many(self, values: Mapping[str, object]) -> None:
        """Append `values` (one line each) and sync them to disk before returning."""
        text = "".join(json.dumps({"key": k, "value": v}) + "\n" for k, v in values.items())
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        self.data.update(values)


def answer_questions(engine: Engine, tokenizer, questions: Mapping[str, str], *, max_tokens: int,
                     temperature: float = 0.0, seed: int = 0, cache: JsonlCache | None = None,
                     chunk_size: int | None = None, system: str | None = None) -> dict[str, str]:
    """Each question answered by a model in plain chat (no thinking phase), keyed like `questions`.

    Questions go to the engine `chunk_size` at a time (default: the engine's ``batch_size``,
    else 64) and each chunk's answers reach `cache` as soon as it finishes, so a killed job
    loses at most the chunk in progress. Each answer depends only on its question and
    ``(seed, key)``, so a resumed job answers like an uninterrupted one.
    """
    chunk_size = chunk_size or getattr(engine, "batch_size", None) or DEFAULT_CHUNK
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
    stop = tokenizer.convert_tokens_to_ids("<|im_end|>")
    stop_ids = tuple(t for t in {stop, tokenizer.eos_token_id} if isinstance(t, int) and t >= 0)
    todo = [k for k in questions if cache is None or k not in cache]
    out: dict[str, str] = {k: cache.get(k) for k in questions if cache is not None and k in cache}  # type: ignore[misc]
    if out:
        log.info("reusing %d cached answers; %d to generate", len(out), len(todo))
    for start in tqdm(range(0, len(todo), chunk_size), desc="answering", unit="chunk", disable=not todo):
        keys = todo[start:start + chunk_size]
        requests = []
        for k in keys:
            messages = ([{"role": "system", "content": system}] if system else []) + [
                {"role": "user", "content": questions[k]}]
            ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            if isinstance(ids, Mapping) or hasattr(ids, "input_ids"):
                ids = ids["input_ids"]
            requests.append(GenerationRequest(prompt=list(ids), max_tokens=max_tokens, stop_token_ids=stop_ids,
                                              temperature=temperature, seed=request_seed(seed, k, 0)))
        texts = {k: tokenizer.decode(g.tokens, skip_special_tokens=True)
                 for k, g in zip(keys, engine.generate(requests), strict=True)}
        if cache is not None:
            cache.put_many(texts)
        out.update(texts)
    return {k: out[k] for k in questions}


@dataclass(frozen=True)
class JudgeSettings:
    """How the judge is asked (config key ``judge``): reply length and temperature (None = the
    endpoint's), tries per item until a reply holds a valid answer (0 = no bound, as s1), and
    how replies are read (:data:`s1flow.judges.REPLY_PARSING`)."""

    max_tokens: int | None = None
    temperature: float | None = None
    reply_tries: int = 3
    reply_parsing: str = "lenient"

    def __post_init__(self) -> None:
        if not isinstance(self.reply_tries, int) or self.reply_tries < 0:
            raise ConfigError(f"config key 'judge.reply_tries': expected an integer >= 0, got {self.reply_tries!r}")
        if self.reply_parsing not in REPLY_PARSING:
            raise ConfigError(f"config key 'judge.reply_parsing': expected one of {list(REPLY_PARSING)}, "
                              f"got {self.reply_parsing!r}")

    def chat_kwargs(self) -> dict[str, Any]:
        return {k: v for k, v in (("max_tokens", self.max_tokens), ("temperature", self.temperature))
                if v is not None}


@dataclass
class JudgeAnswers:
    """The judge's parsed answer per item (None where no try gave one) and the tries each took."""

    answers: dict[str, Any]
    tries: dict[str, int]
    failed: list[str] = field(default_factory=list)

    def summary(self, settings: JudgeSettings) -> dict[str, Any]:
        """Counts for a stage report: items asked, answered, failed (named), retried, requests."""
        return {"asked": len(self.answers), "answered": len(self.answers) - len(self.failed),
                "failed": len(self.failed), "retried": sum(t > 1 for t in self.tries.values()),
                "requests": sum(self.tries.values()), "reply_tries": settings.reply_tries,
                "reply_parsing": settings.reply_parsing, "failed_qhashes": list(self.failed)}


def try_key(key: str, attempt: int) -> str:
    """The cache key of try `attempt` (1-based) of an item: the key itself, then ``<key>.try<n>``."""
    return key if attempt == 1 else f"{key}.try{attempt}"


def ask_judge(client, items: Mapping[str, Sequence[Mapping[str, Any]]], parse: Callable[[str | None], Any], *,
              settings: JudgeSettings, cache_dir: str | os.PathLike, purpose: str) -> JudgeAnswers:
    """Ask the judge every ``key -> messages`` item until ``parse(reply)`` is not None.

    Each item is asked at most ``settings.reply_tries`` times (0 = until it answers). Every
    try is its own cached request (:func:`try_key`), so a rerun replays the same replies and
    a larger bound asks only the items that failed. An item without a valid answer after the
    last try is None in ``answers`` and listed in ``failed``.
    """
    bound = settings.reply_tries
    answers: dict[str, Any] = {}
    tries: dict[str, int] = {}
    last: dict[str, str] = {}
    pending = list(items)
    attempt = 0
    while pending and (bound == 0 or attempt < bound):
        attempt += 1
        keys = {k: try_key(k, attempt) for k in pending}
        replies = client.chat_many({keys[k]: items[k] for k in pending}, cache_dir=cache_dir, purpose=purpose,
                                   **settings.chat_kwargs())
        invalid = []
        for k in pending:
            tries[k] = attempt
            text = replies[keys[k]].text
            value = parse(text)
            if value is None:
                invalid.append(k)
                last[k] = text or ""
            else:
                answers[k] = value
        if invalid and (bound == 0 or attempt < bound):
            log.info("%s: %d of %d replies of try %d hold no valid answer; asking again (try %d%s)", purpose,
                     len(invalid), len(pending), attempt, attempt + 1, f" of {bound}" if bound else "")
        pending = invalid
    for i, k in enumerate(pending):
        if i < LOGGED_FAILURES:
            log.warning("%s: %s has no valid answer after %d tries; its label is null. Last reply ends: %r",
                        purpose, k, tries[k], last[k][-200:])
    if pending:
        log.warning("%s: %d of %d items failed after %d tries (reply_parsing %s); their labels are null",
                    purpose, len(pending), len(items), bound, settings.reply_parsing)
    return JudgeAnswers({k: answers.get(k) for k in items}, tries, pending)


@dataclass
class Grades:
    """Grades keyed by qhash (None = not graded) and, when the judge graded, its answers."""

    grades: dict[str, bool | None]
    judge: JudgeAnswers | None = None


@dataclass
class LabelResult:
    """A label table keyed by qhash and the stage report that goes with it."""

    table: pd.DataFrame
    report: dict[str, Any]


def judge_grades(client, rows: pd.DataFrame, attempts: Mapping[str, str | None], *, cache_dir: str | os.PathLike,
                 purpose: str, settings: JudgeSettings | None = None) -> Grades:
    """s1's LLM-judge grading of attempts against reference solutions; null without a solution."""
    settings = settings or JudgeSettings()
    items = {}
    for qhash, question, solution in zip(rows["qhash"], rows["question"], rows["solution"], strict=True):
        attempt = attempts.get(qhash)
        if isinstance(solution, str) and solution.strip() and isinstance(attempt, str):
            items[qhash] = grading_messages(question, attempt, solution)

    def parse(text: str | None) -> bool | None:
        return parse_yes_no(text, settings.reply_parsing)

    judged = ask_judge(client, items, parse, settings=settings, cache_dir=cache_dir, purpose=purpose)
    grades: dict[str, bool | None] = {q: None for q in rows["qhash"]}
    grades.update(judged.answers)
    return Grades(grades, judged)


def grade_attempts(rows: pd.DataFrame, attempts: Mapping[str, str | None], *, grader: str, client=None,
                   cache_dir: str | os.PathLike | None = None, purpose: str = "grade",
                   settings: JudgeSettings | None = None) -> Grades:
    """Grades of `attempts` (keyed by qhash) against the rows' solutions, by rule or judge."""
    if grader == "rule":
        sol = dict(zip(rows["qhash"], rows["solution"], strict=True))
        return Grades({q: (rule_grade(attempts.get(q), sol[q]) if q in attempts else None) for q in rows["qhash"]})
    if grader == "judge":
        if client is None or cache_dir is None:
            raise ConfigError("grading by 'judge' needs the judge endpoint (config key 'judge')")
        return judge_grades(client, rows, attempts, cache_dir=cache_dir, purpose=purpose, settings=settings)
    raise ConfigError(f"unknown grader {grader!r}; expected one of {list(GRADERS)}")


def grade_report(column: str, table: pd.DataFrame, graded: Grades, *, grader: str,
                 settings: JudgeSettings | None) -> dict[str, Any]:
    """The stage report of a grade column: true / false / null counts and what the judge did."""
    values = table[column]
    report: dict[str, Any] = {"label": column, "rows": len(table), "grader": grader,
                              "true": int((values == True).sum()), "false": int((values == False).sum()),  # noqa: E712
                              "null": int(values.isna().sum()), "judge": None}
    if graded.judge is not None:
        report["judge"] = graded.judge.summary(settings or JudgeSettings())
    return report


def difficulty_labels(pool: pd.DataFrame, alias: str, *, engine: Engine, tokenizer, max_tokens: int,
                      temperature: float = 0.0, seed: int = 0, grader: str = "rule", client=None,
                      cache_dir: str | os.PathLike, chunk_size: int | None = None, model_id: str = "",
                      judge: JudgeSettings | None = None) -> LabelResult:
    """``correct_<alias>`` for every pool question: the model's plain-chat answer, graded.

    `model_id` (e.g. the model path) is part of the cache fingerprint.
    """
    fingerprint = {"alias": alias, "max_tokens": max_tokens, "temperature": temperature, "seed": seed,
                   "model": model_id}
    cache = JsonlCache(Path(cache_dir) / f"answers-{alias}.jsonl", fingerprint)
    questions = dict(zip(pool["qhash"], pool["question"], strict=True))
    attempts = answer_questions(engine, tokenizer, questions, max_tokens=max_tokens, temperature=temperature,
                                seed=seed, cache=cache, chunk_size=chunk_size)
    graded = grade_attempts(pool, attempts, grader=grader, client=client, cache_dir=cache_dir,
                            purpose=f"grade-{alias}", settings=judge)
    col = f"correct_{alias}"
    out = pd.DataFrame({"qhash": pool["qhash"],
                        col: pd.array([graded.grades[q] for q in pool["qhash"]], dtype="boolean")})
    log.info("%s: %d correct, %d wrong, %d ungraded of %d", col, int(out[col].sum()),
             int((out[col] == False).sum()), int(out[col].isna().sum()), len(out))  # noqa: E712
    return LabelResult(out, grade_report(col, out, graded, grader=grader, settings=judge))


def teacher_grade_labels(rows: pd.DataFrame, *, grader: str, client=None,
                         cache_dir: str | os.PathLike | None = None,
                         judge: JudgeSettings | None = None) -> LabelResult:
    """``teacher_correct`` for rows with ``qhash``, ``question``, ``solution`` and ``attempt``."""
    attempts = {q: a for q, a in zip(rows["qhash"], rows["attempt"], strict=True) if isinstance(a, str)}
    graded = grade_attempts(rows, attempts, grader=grader, client=client, cache_dir=cache_dir,
                            purpose="grade-teacher", settings=judge)
    out = pd.DataFrame({"qhash": rows["qhash"],
                        "teacher_correct": pd.array([graded.grades[q] for q in rows["qhash"]], dtype="boolean")})
    return LabelResult(out, grade_report("teacher_correct", out, graded, grader=grader, settings=judge))


def domain_labels(pool: pd.DataFrame, *, client, rubric_file: str | os.PathLike, cache_dir: str | os.PathLike,
                  judge: JudgeSettings | None = None) -> LabelResult:
    """``domain`` = the MSC code the LLM judge assigns (s1's prompt over the whole rubric).

    A question whose replies never end in a code of the rubric keeps a null domain and is
    named in the report's ``judge.failed_qhashes``.
    """
    settings = judge or JudgeSettings()
    rubric = load_rubric(rubric_file)
    codes = [r.code for r in rubric]
    items = {q: domain_messages(text, rubric) for q, text in zip(pool["qhash"], pool["question"], strict=True)}

    def parse(text: str | None) -> str | None:
        return parse_domain_code(text, codes, settings.reply_parsing)

    judged = ask_judge(client, items, parse, settings=settings, cache_dir=cache_dir, purpose="domain")
    domains = [judged.answers.get(q) for q in pool["qhash"]]
    out = pd.DataFrame({"qhash": pool["qhash"], "domain": domains})
    found = out["domain"].dropna().value_counts()
    report = {"label": "domain", "rows": len(out), "rubric": str(rubric_file), "rubric_codes": len(codes),
              "labelled": int(out["domain"].notna().sum()), "null": int(out["domain"].isna().sum()),
              "codes": {c: int(found[c]) for c in sorted(found.index)}, "judge": judged.summary(settings)}
    return LabelResult(out, report)


def teacher_trace_labels(pool: pd.DataFrame, have_trace: Sequence[str], *, client, cache_dir: str | os.PathLike,
                         max_tokens: int | None = None, temperature: float = 0.0) -> pd.DataFrame:
    """``trace`` and ``attempt`` from a teacher model for every question that has no trace yet."""
    done = set(have_trace)
    todo = pool[~pool["qhash"].isin(done)]
    items = {q: teacher_messages(text) for q, text in zip(todo["qhash"], todo["question"], strict=True)}
    log.info("teacher: %d questions need a trace (%d already have one)", len(items), len(pool) - len(items))
    replies = client.chat_many(items, cache_dir=cache_dir, purpose="teacher", max_tokens=max_tokens,
                               temperature=temperature) if items else {}
    traces, attempts = [], []
    for q in todo["qhash"]:
        trace, attempt = split_teacher_reply(replies[q])
        traces.append(trace)
        attempts.append(attempt)
    return pd.DataFrame({"qhash": list(todo["qhash"]), "trace": traces, "attempt": attempts})
