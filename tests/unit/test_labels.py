"""Model-computed labels: rule grading against reference solutions, per-qhash caches, resume,
and the judge asked again (through a real local HTTP server) until its reply holds an answer."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from openai_server import serve
from test_budget import ScriptedEngine
from transformers import AutoTokenizer

from s1flow.curate.pool import question_hash
from s1flow.engines.http import OpenAIClient
from s1flow.errors import ConfigError
from s1flow.judges import Rubric
from s1flow.labels.tables import (
    JsonlCache,
    JudgeSettings,
    answer_questions,
    domain_labels,
    gold_answer,
    grade_attempts,
    rule_grade,
    teacher_grade_labels,
)
from s1flow.stages.labels import client_from_config, judge_settings, merged_attempts, run_domains


@pytest.mark.parametrize("solution, gold", [
    ("42", ("42", "math")),
    ("The sum is $x$, so the answer is $\\boxed{\\frac{1}{2}}$.", ("\\frac{1}{2}", "math")),
    ("(C)", ("C", "mc")),
    ("B", ("B", "mc")),
    ("A long worked solution without a boxed answer. " * 5, (None, "math")),
    (None, (None, "math")),
    ("   ", (None, "math")),
])
def test_gold_answer(solution, gold):
    assert gold_answer(solution) == gold


def test_rule_grade():
    assert rule_grade("so the answer is $\\boxed{0.5}$", "$\\boxed{\\frac12}$") is True
    assert rule_grade("Answer: 7", "8") is False
    assert rule_grade("Answer: (B)", "B") is True
    assert rule_grade("Answer: C", "B") is False
    assert rule_grade(None, "8") is False
    assert rule_grade("Answer: 8", None) is None  # no reference: no grade, as in s1
    rows = pd.DataFrame({"qhash": ["a", "b", "c"], "question": ["q"] * 3, "solution": ["1", "2", None]})
    graded = grade_attempts(rows, {"a": "Answer: 1", "c": "Answer: 3"}, grader="rule")
    assert graded.grades == {"a": True, "b": None, "c": None} and graded.judge is None
    with pytest.raises(ConfigError, match="judge"):
        grade_attempts(rows, {}, grader="judge")


def test_jsonl_cache_resumes_and_invalidates(tmp_path):
    path = tmp_path / "c.jsonl"
    cache = JsonlCache(path, {"model": "m1"})
    cache.put_many({"a": "x", "b": "y"})
    with path.open("a") as fh:
        fh.write('{"key": "c", "val')  # a line cut by a kill
    again = JsonlCache(path, {"model": "m1"})
    assert again.get("a") == "x" and "b" in again and "c" not in again
    changed = JsonlCache(path, {"model": "m2"})
    assert "a" not in changed


def test_jsonl_cache_appends_after_a_torn_line(tmp_path):
    """A line cut by a kill is cut off the file when it is opened: what is appended after it stays
    readable, and the cut key is computed again (not lost, not kept half-written)."""
    path = tmp_path / "c.jsonl"
    JsonlCache(path, {"model": "m1"}).put_many({"a": "x", "b": "y"})
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"key": "c", "value": "z')  # killed while "c" was written
    cache = JsonlCache(path, {"model": "m1"})
    assert "c" not in cache and path.read_bytes() == whole
    cache.put_many({"c": "z2", "d": "w"})
    again = JsonlCache(path, {"model": "m1"})
    assert {k: again.get(k) for k in "abcd"} == {"a": "x", "b": "y", "c": "z2", "d": "w"}
    # a whole line that is not a record (written by an older version after a torn line) is skipped, not cut
    with path.open("a") as fh:
        fh.write('{"key": "e", "val{"key": "f", "value": 1}\n{"key": "g", "value": 2}\n')
    last = JsonlCache(path, {"model": "m1"})
    assert "e" not in last and "f" not in last and last.get("g") == 2
    # a record complete but for its newline counts as torn: computed again
    path.write_bytes(whole + b'{"key": "c", "value": "z"}')
    assert "c" not in JsonlCache(path, {"model": "m1"}) and path.read_bytes() == whole


def test_answers_are_cached_per_question(tiny_model_dir, tmp_path):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    engine = ScriptedEngine(len(tok) - 1)
    questions = {f"h{i}": f"What is {i}+{i}?" for i in range(7)}
    cache = JsonlCache(tmp_path / "answers.jsonl", {"model": "scripted"})
    first = answer_questions(engine, tok, questions, max_tokens=6, cache=cache, chunk_size=3)
    assert set(first) == set(questions) and len(engine.requests) == 7
    prompt = tok.decode(engine.requests[0].prompt)
    assert prompt == "<|im_start|>user\nWhat is 0+0?<|im_end|>\n<|im_start|>assistant\n"
    # a killed job: only the first chunk reached the cache; the rerun answers only the rest
    lines = (tmp_path / "answers.jsonl").read_text().splitlines()
    (tmp_path / "answers.jsonl").write_text("\n".join(lines[:4]) + "\n")
    engine.requests.clear()
    resumed = answer_questions(engine, tok, questions, max_tokens=6,
                               cache=JsonlCache(tmp_path / "answers.jsonl", {"model": "scripted"}), chunk_size=3)
    assert resumed == first and len(engine.requests) == 4


def test_answers_reach_the_cache_one_engine_batch_at_a_time(tiny_model_dir, tmp_path):
    """Without a chunk size, each engine batch is stored as soon as it is generated (a kill loses
    at most the batch in progress)."""
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    engine = ScriptedEngine(len(tok) - 1)
    engine.batch_size = 3
    path = tmp_path / "answers.jsonl"
    stored: list[int] = []
    generate = engine.generate

    def generate_and_look(requests):
        stored.append(len(path.read_text().splitlines()) - 1)  # answers in the cache when a batch starts
        return generate(requests)

    engine.generate = generate_and_look
    questions = {f"h{i}": f"What is {i}+{i}?" for i in range(7)}
    answer_questions(engine, tok, questions, max_tokens=4, cache=JsonlCache(path, {"model": "scripted"}))
    assert stored == [0, 3, 6] and len(path.read_text().splitlines()) == 1 + 7


def test_merged_attempts_later_tables_win(tmp_path):
    pool = pd.DataFrame({"qhash": ["a", "b"], "question": ["qa", "qb"], "solution": ["1", "2"]})
    first = pd.DataFrame({"qhash": ["a", "b"], "trace": ["t1", "t2"], "attempt": ["x1", "x2"]})
    first.to_parquet(tmp_path / "1.parquet")
    pd.DataFrame({"qhash": ["b", "z"], "attempt": ["y2", "yz"]}).to_parquet(tmp_path / "2.parquet")
    rows = merged_attempts(pool, [tmp_path / "1.parquet", tmp_path / "2.parquet"]).set_index("qhash")
    assert rows.loc["a", "attempt"] == "x1" and rows.loc["b", "attempt"] == "y2"
    assert rows.loc["b", "trace"] == "t2" and "z" not in rows.index


def test_endpoint_config_errors_name_the_key(monkeypatch):
    with pytest.raises(ConfigError, match="judge"):
        client_from_config({"model": "m"}, "judge")
    monkeypatch.delenv("S1FLOW_NO_SUCH_KEY", raising=False)
    with pytest.raises(ConfigError, match="S1FLOW_NO_SUCH_KEY"):
        client_from_config({"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key_env": "S1FLOW_NO_SUCH_KEY"},
                           "judge")


# -- the judge, asked again until it answers ---------------------------------------------


def judge_client(server) -> OpenAIClient:
    # one request at a time: the server's scripted replies go to the requests in order
    return OpenAIClient(server.url, "judge", backoff=0.001, max_backoff=0.01, concurrency=1)


def chat_bodies(server) -> list[dict]:
    return [r.body for r in server.requests if r.path.endswith("/chat/completions")]


TEACHER_ROWS = pd.DataFrame({"qhash": ["q1", "q2"], "question": ["What is 6 * 7?", "Name a prime."],
                             "solution": ["42", None], "attempt": ["It is 42.", "7"]})


def test_judge_grade_garbage_then_a_verdict_is_accepted(tmp_path):
    settings = JudgeSettings(reply_tries=3, reply_parsing="s1")
    with serve() as srv:
        srv.fail("reply", body="I cannot decide.")
        srv.fail("reply", body="The attempt is right.\n**Yes**")  # s1 reads no verdict here either
        result = teacher_grade_labels(TEACHER_ROWS, grader="judge", client=judge_client(srv), cache_dir=tmp_path,
                                      judge=settings)
        bodies = chat_bodies(srv)
    # q2 has no reference solution: never sent, null grade (as in s1)
    assert result.table["teacher_correct"].tolist() == [True, pd.NA]
    assert len(bodies) == 3 and all(b["messages"] == bodies[0]["messages"] for b in bodies)
    assert bodies[0]["messages"][1]["content"] == ("## Problem\nWhat is 6 * 7?\n\n## Attempt\nIt is 42.\n\n"
                                                   "## Correct answer\n42")
    assert result.report == {"label": "teacher_correct", "rows": 2, "grader": "judge", "true": 1, "false": 0,
                             "null": 1, "judge": {"asked": 1, "answered": 1, "failed": 0, "retried": 1, "requests": 3,
                                                  "reply_tries": 3, "reply_parsing": "s1", "failed_qhashes": []}}
    assert sorted(p.name for p in (tmp_path / "grade-teacher").iterdir()) == ["q1.json", "q1.try2.json", "q1.try3.json"]
    # a rerun replays the cached tries and asks nothing
    with serve() as srv:
        again = teacher_grade_labels(TEACHER_ROWS, grader="judge", client=judge_client(srv), cache_dir=tmp_path,
                                     judge=settings)
        assert chat_bodies(srv) == []
    assert again.table.equals(result.table) and again.report == result.report


def test_judge_grade_that_never_answers_is_null_and_reported(tmp_path, caplog):
    rows = TEACHER_ROWS.assign(solution=["42", "7"])
    with serve() as srv:
        srv.fail("reply", times=8, body="Let me think about it some more.")
        result = teacher_grade_labels(rows, grader="judge", client=judge_client(srv), cache_dir=tmp_path,
                                      judge=JudgeSettings(reply_tries=4))
        assert len(chat_bodies(srv)) == 8  # 2 items x 4 tries, then no more
    assert result.table["teacher_correct"].isna().all()  # null, not False
    judge = result.report["judge"]
    assert (judge["failed"], judge["requests"], judge["failed_qhashes"]) == (2, 8, ["q1", "q2"])
    assert (result.report["null"], result.report["true"], result.report["false"]) == (2, 0, 0)
    assert "q1 has no valid answer after 4 tries" in caplog.text and "2 of 2 items failed" in caplog.text


DOMAIN_RUBRIC = [Rubric("05", "Combinatorics", ("Graph theory",), "### Combinatorics\n* Code: 05"),
                 Rubric("11", "Number theory", ("Primes",), "### Number theory\n* Code: 11"),
                 Rubric("60", "Probability theory", ("Probability",), "### Probability theory\n* Code: 60")]
DOMAIN_QUESTIONS = ["Is 91 a prime?", "What is the probability of two sixes?", "Teach me to sing."]


def domain_pool() -> pd.DataFrame:
    return pd.DataFrame({"qhash": [question_hash(q) for q in DOMAIN_QUESTIONS], "question": DOMAIN_QUESTIONS,
                         "solution": [None] * 3, "cot_type": ["math"] * 3, "source": ["test"] * 3,
                         "metadata": ["{}"] * 3, "domain": [None] * 3})


def write_rubric(path, rubric=DOMAIN_RUBRIC):
    path.write_text(json.dumps([{"code": r.code, "title": r.title, "descriptions": list(r.descriptions),
                                 "prompt": r.prompt} for r in rubric]))
    return path


def test_domain_asked_again_until_a_code_of_the_rubric(tmp_path):
    """Garbage, then a code: accepted. A code outside the rubric every time (the server's toy model
    answers 97 for 'sing'): asked 3 times, then null and named in the report."""
    pool = domain_pool()
    prime, dice, sing = pool["qhash"]
    with serve() as srv:
        srv.fail("reply", body="This is a hard one. Maybe number theory?")
        result = domain_labels(pool, client=judge_client(srv), rubric_file=write_rubric(tmp_path / "msc.json"),
                               cache_dir=tmp_path / "cache", judge=JudgeSettings(reply_tries=3, reply_parsing="s1"))
        bodies = chat_bodies(srv)
    assert dict(zip(result.table["qhash"], result.table["domain"], strict=True)) == {prime: "11", dice: "60",
                                                                                       sing: None}
    assert len(bodies) == 3 + 2 + 1
    assert bodies[0]["messages"][1]["content"] == ("## Question\nIs 91 a prime?\n\n## Classification rubrics\n"
                                                   "### Combinatorics\n* Code: 05\n\n### Number theory\n* Code: 11"
                                                   "\n\n### Probability theory\n* Code: 60")
    report = result.report
    assert (report["labelled"], report["null"], report["codes"]) == (2, 1, {"11": 1, "60": 1})
    assert report["judge"] == {"asked": 3, "answered": 2, "failed": 1, "retried": 2, "requests": 6,
                               "reply_tries": 3, "reply_parsing": "s1", "failed_qhashes": [sing]}


def test_run_domains_writes_labels_and_report(tmp_path):
    pool_file = tmp_path / "pool.parquet"
    domain_pool().to_parquet(pool_file)
    with serve() as srv:
        judge = {"base_url": srv.url, "model": "judge", "concurrency": 1, "max_tokens": 64, "temperature": 0.5,
                 "reply_tries": 2, "reply_parsing": "lenient"}
        run_domains(pool_file, tmp_path / "domain.parquet", rubric=write_rubric(tmp_path / "msc.json"), judge=judge,
                    cache_dir=tmp_path / "cache", report=tmp_path / "domain.json")
        bodies = chat_bodies(srv)
    assert all(b["max_tokens"] == 64 and b["temperature"] == 0.5 for b in bodies) and len(bodies) == 4
    labels = pd.read_parquet(tmp_path / "domain.parquet")
    assert list(labels.columns) == ["qhash", "domain"] and labels["domain"].isna().sum() == 1
    report = json.loads((tmp_path / "domain.json").read_text())
    assert report["judge"]["failed"] == 1 and report["judge"]["reply_tries"] == 2


def test_judge_settings_from_config():
    assert judge_settings(None) == JudgeSettings()
    s = judge_settings({"base_url": "x", "model": "m", "max_tokens": 8192, "reply_tries": 0, "reply_parsing": "s1"})
    assert (s.max_tokens, s.temperature, s.reply_tries, s.reply_parsing) == (8192, None, 0, "s1")
    assert s.chat_kwargs() == {"max_tokens": 8192}
    with pytest.raises(ConfigError, match="judge.reply_tries"):
        JudgeSettings(reply_tries=-1)
    with pytest.raises(ConfigError, match="judge.reply_parsing"):
        JudgeSettings(reply_parsing="strict")
