"""s1's judge prompts and reply parsers, by hand and through the local OpenAI-compatible server."""

from __future__ import annotations

import json

import pytest
from openai_server import serve

from s1flow.engines.http import ChatReply, OpenAIClient
from s1flow.errors import InputFileError
from s1flow.judges import (
    DOMAIN_PROMPT,
    GRADING_PROMPT,
    Rubric,
    domain_messages,
    grading_messages,
    load_rubric,
    parse_domain_code,
    parse_yes_no,
    rubric_prompt,
    split_teacher_reply,
    teacher_messages,
)

# s1's data/grading.txt, byte for byte (line breaks, the space before the third, no final newline)
S1_GRADING_TXT = (
    "You are an AI assistant for grading a science problem.\n"
    "The user will provide you with the question itself, an attempt made by a student and the correct answer to "
    "the problem.\n"
    "Your job is to judge whether the attempt is correct by comparing it with the correct answer. \n"
    "If the expected solution concludes with a number or choice, there should be no ambiguity.\n"
    "If the expected solution involves going through the entire reasoning process, you should judge the attempt "
    "based on whether the reasoning process is correct with correct answer if helpful.\n"
    "\n"
    "The user will provide the attempt and the correct answer in the following format:\n"
    "\n"
    "# Problem\n"
    "{problem}\n"
    "\n"
    "## Attempt\n"
    "{attempt}\n"
    "\n"
    "## Correct answer\n"
    "{solution}\n"
    "\n"
    "Explain your reasoning, and end your response on a new line with only \"Yes\" or \"No\" (without quotes)."
)

# the system prompt of s1's domain classification (data/featurization.py)
S1_DOMAIN_SYSTEM = (
    "You are a helpful assistant that classifies questions into different subjects based on the provided "
    "classification rubrics. You will be given a question and a list of subjects. You need to classify the "
    "question into one of the subjects. If the question has multiple subjects, you should classify the question "
    "into the most relevant subject. Explain your reasoning, and end your response on a new line with two-digit "
    "code of the subject that the question belongs to."
)

RUBRIC = [
    Rubric("05", "Combinatorics", ("Graph theory",), "### Combinatorics\n* Code: 05\n* Description: Graph theory"),
    Rubric("11", "Number theory", ("Primes",), "### Number theory\n* Code: 11\n* Description: Primes"),
    Rubric("60", "Probability theory and stochastic processes", ("Probability",),
           "### Probability theory and stochastic processes\n* Code: 60\n* Description: Probability"),
    Rubric("97", "Mathematics education", ("Education",), "### Mathematics education\n* Code: 97\n* Description: x"),
]


# -- grading --------------------------------------------------------------------------


def test_grading_prompt_is_s1s_grading_txt():
    assert GRADING_PROMPT == S1_GRADING_TXT
    assert len(GRADING_PROMPT) == 806 and not GRADING_PROMPT.endswith("\n")


def test_grading_messages_are_s1s_turns():
    msgs = grading_messages("What is 6 * 7?", "It is 42.", "42")
    assert msgs == [
        {"role": "system", "content": S1_GRADING_TXT},
        {"role": "user", "content": "## Problem\nWhat is 6 * 7?\n\n## Attempt\nIt is 42.\n\n## Correct answer\n42"},
    ]


def test_grading_messages_keep_braces_verbatim():
    problem = "Let $f(x) = {x}^{2}$ and S = {1, 2}. Find {problem}."
    msgs = grading_messages(problem, "I get \\boxed{4}", "{solution} is 4")
    assert msgs[0] == {"role": "system", "content": GRADING_PROMPT}
    assert msgs[1]["role"] == "user"
    assert msgs[1]["content"] == (f"## Problem\n{problem}\n\n## Attempt\nI get \\boxed{{4}}\n\n"
                                  "## Correct answer\n{solution} is 4")
    with pytest.raises(ValueError, match="attempt"):
        grading_messages("p", None, "s")


@pytest.mark.parametrize("reply, verdict", [
    ("The attempt matches.\nYes", True),
    ("The attempt is wrong.\nNo", False),
    ("Reasoning...\n\n**Yes**\n\n", True),
    ("Reasoning...\nNo.", False),
    ("Reasoning...\n`yes`", True),
    ("Reasoning...\n> **NO**!", False),
    ("Yes", True),
    ("The answer is Yes", None),
    ("Yes or No", None),
    ("Yes\nbut actually I am not sure", None),
    ("", None),
    (None, None),
])
def test_parse_yes_no(reply, verdict):
    assert parse_yes_no(reply) is verdict


@pytest.mark.parametrize("reply, verdict", [
    ("The attempt matches.\nYes", True),
    ("The attempt is wrong.\nNo", False),
    ("Yes", True),
    ("Reasoning...\nYes\n", None),  # s1 splits on newlines: the last piece is empty
    ("Reasoning...\n**Yes**", None),
    ("Reasoning...\nNo.", None),
    ("Reasoning...\nyes", None),
    ("Reasoning...\nYes ", None),
    ("Reasoning... Yes", None),
    (None, None),
])
def test_parse_yes_no_as_s1(reply, verdict):
    assert parse_yes_no(reply, "s1") is verdict


def test_unknown_reply_parsing_is_an_error():
    with pytest.raises(ValueError, match="reply parsing"):
        parse_yes_no("Yes", "strict")
    with pytest.raises(ValueError, match="reply parsing"):
        parse_domain_code("11", ["11"], "strict")


# -- domains --------------------------------------------------------------------------


def write(tmp_path, data) -> str:
    path = tmp_path / "msc.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


GOOD = {"code": "11", "title": "Number theory", "descriptions": [" Primes"], "prompt": "### Number theory"}


@pytest.mark.parametrize("data, match", [
    ("{not json", "cannot read the rubric as JSON"),
    ({"code": "11"}, "non-empty JSON list"),
    ([], "non-empty JSON list"),
    ([GOOD, "x"], "entry 1 is a str"),
    ([{**GOOD, "code": 11}], "entry 0: 'code' must be a two-digit string"),
    ([{**GOOD, "code": "3"}], "two-digit"),
    ([GOOD, GOOD], "entry 1 \\(code 11\\): duplicate code, also used by entry 0"),
    ([{k: v for k, v in GOOD.items() if k != "prompt"}], "lacks key\\(s\\) \\['prompt'\\]"),
    ([{**GOOD, "descriptions": "Primes"}], "'descriptions' must be a list of strings"),
    ([{**GOOD, "title": ""}], "'title'"),
    ([{**GOOD, "prompt": " "}], "'prompt'"),
])
def test_load_rubric_rejects_bad_files(tmp_path, data, match):
    path = write(tmp_path, data)
    with pytest.raises(InputFileError, match=match) as info:
        load_rubric(path)
    assert path in str(info.value)


def test_load_rubric_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        load_rubric(tmp_path / "nope.json")


def test_load_rubric_good_file(tmp_path):
    (r,) = load_rubric(write(tmp_path, [GOOD]))
    assert r == Rubric("11", "Number theory", ("Primes",), "### Number theory")


def test_domain_messages_list_every_rubric():
    question = "How many primes below {n}?"
    msgs = domain_messages(question, RUBRIC)
    assert DOMAIN_PROMPT == S1_DOMAIN_SYSTEM
    assert msgs[0] == {"role": "system", "content": S1_DOMAIN_SYSTEM}
    assert msgs[1]["content"] == (
        "## Question\nHow many primes below {n}?\n\n## Classification rubrics\n"
        "### Combinatorics\n* Code: 05\n* Description: Graph theory\n\n"
        "### Number theory\n* Code: 11\n* Description: Primes\n\n"
        "### Probability theory and stochastic processes\n* Code: 60\n* Description: Probability\n\n"
        "### Mathematics education\n* Code: 97\n* Description: x")
    user = msgs[1]["content"]
    assert user.startswith("## Question\nHow many primes below {n}?\n\n## Classification rubrics\n### Combinatorics")
    assert all(r.prompt in user for r in RUBRIC)
    assert "two-digit code" in DOMAIN_PROMPT


@pytest.mark.parametrize("reply, code", [
    ("This is about primes.\n11", "11"),
    ("Reasoning.\n\n**05**\n", "05"),
    ("Reasoning.\nCode: 60.", "60"),
    ("Reasoning.\n(97)", "97"),
    ("Reasoning.\n99", None),  # not a known code
    ("Reasoning.\n11 (Number theory)", None),
    ("Reasoning.\n3.11", None),
    ("Reasoning.\n2011", None),
    ("11\nThat is the code.", None),
    ("", None),
    (None, None),
])
def test_parse_domain_code(reply, code):
    assert parse_domain_code(reply, [r.code for r in RUBRIC]) == code
    assert parse_domain_code(reply, RUBRIC) == code


@pytest.mark.parametrize("reply, code", [
    ("This is about primes.\n11", "11"),
    ("Reasoning.\nCode: 60", "60"),  # the last two characters, whatever precedes them
    ("Reasoning.\n2011", "11"),
    ("Reasoning.\n3.11", "11"),
    ("Reasoning.\n**05**", None),
    ("Reasoning.\n(97)", None),
    ("Reasoning.\n11\n", None),
    ("Reasoning.\nCode: 60.", None),
    ("Reasoning.\n99", None),  # s1 kept it and found no title for it; here it is no answer
    ("Reasoning.\n\u00b9\u00b9", None),  # str.isdigit() digits that are not 0-9
    ("1", None),
    (None, None),
])
def test_parse_domain_code_as_s1(reply, code):
    assert parse_domain_code(reply, RUBRIC, "s1") == code


@pytest.mark.realdata
def test_real_msc_rubric(shared_data):
    rubric = load_rubric(shared_data / "s1" / "msc.json")
    assert len(rubric) == 61
    codes = [r.code for r in rubric]
    assert len(set(codes)) == 61 and codes == sorted(codes)
    by_code = {r.code: r for r in rubric}
    assert by_code["11"].title == "Number theory"
    assert all(f"* Code: {r.code}" in r.prompt and r.title in r.prompt for r in rubric)
    question = "Prove that there are infinitely many primes."
    msgs = domain_messages(question, rubric)
    raw = json.loads((shared_data / "s1" / "msc.json").read_text(encoding="utf-8"))
    # s1: f"## Question\n{question}\n\n## Classification rubrics\n{msc_prompt}", msc_prompt joined by blank lines
    assert msgs == [{"role": "system", "content": S1_DOMAIN_SYSTEM},
                    {"role": "user", "content": f"## Question\n{question}\n\n## Classification rubrics\n"
                                                + "\n\n".join(node["prompt"] for node in raw)}]
    assert msgs[1]["content"].count("* Code: ") == 61
    assert rubric_prompt(rubric).count("\n\n### ") == 60
    assert parse_domain_code("...\n11", codes) == "11"
    assert parse_domain_code("...\n01", codes) is None  # 01 is not an MSC top-level code s1 kept


# -- teacher --------------------------------------------------------------------------


def test_teacher_messages():
    assert teacher_messages("What is {x}?") == [{"role": "user", "content": "What is {x}?"}]


@pytest.mark.parametrize("reply, expected", [
    (ChatReply(text="Answer: 4", reasoning="2 + 2 = 4"), ("2 + 2 = 4", "Answer: 4")),
    (ChatReply(text="<think>\n2 + 2 = 4\n</think>\n\nAnswer: 4"), ("2 + 2 = 4", "Answer: 4")),
    (ChatReply(text="2 + 2 = 4\n</think>\nAnswer: 4"), ("2 + 2 = 4", "Answer: 4")),  # template opened <think>
    (ChatReply(text="Answer: 4\n"), (None, "Answer: 4")),
    (ChatReply(text="Answer: 4", reasoning="  "), (None, "Answer: 4")),
])
def test_split_teacher_reply(reply, expected):
    assert split_teacher_reply(reply) == expected


# -- through the server -----------------------------------------------------------------


def test_judges_through_the_local_server(tmp_path):
    cases = {
        "right": ("What is 6 * 7?", "6 * 7 = 42, so the answer is 42.", "42"),
        "wrong": ("What is 6 * 7?", "It is 48.", "42"),
        "braces": ("Let S = {1, 2, 3}; |S| = ?", "|{1, 2, 3}| = 3", "3"),
    }
    domains = {"primes": "Is 91 a prime?", "dice": "What is the probability of two sixes?", "misc": "Teach me"}
    with serve(teacher_style="think") as srv:
        client = OpenAIClient(srv.url, "judge", backoff=0.001, max_backoff=0.01)
        grades = client.chat_many({k: grading_messages(*v) for k, v in cases.items()},
                                  cache_dir=tmp_path, purpose="grading", progress=False)
        doms = client.chat_many({k: domain_messages(q, RUBRIC) for k, q in domains.items()},
                                cache_dir=tmp_path, purpose="domain", progress=False)
        teacher = client.chat_many({"t": teacher_messages("What is 2 + 2?")}, cache_dir=tmp_path,
                                   purpose="teacher", progress=False)
    assert {k: parse_yes_no(r.text) for k, r in grades.items()} == {"right": True, "wrong": False, "braces": True}
    assert {k: parse_domain_code(r.text, RUBRIC) for k, r in doms.items()} == {"primes": "11", "dice": "60",
                                                                                "misc": "97"}
    trace, attempt = split_teacher_reply(teacher["t"])
    assert trace.startswith("Let me think about: What is 2 + 2?") and attempt.startswith("Answer: ")
