"""Benchmark loading and prompting: the public eval files, hub loading (faked), synthetic sets, errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from s1flow.errors import ConfigError, InputFileError
from s1flow.generate.evalsets import (
    BENCHMARK_COLUMNS,
    HUB_BENCHMARKS,
    S1_MATH_TEMPLATE,
    S1_MC_TEMPLATE,
    Benchmark,
    HubSpec,
    benchmark_from_table,
    load_benchmark,
    make_prompt,
    shuffle_choices,
)
from s1flow.io import read_table, write_parquet

REAL = {  # known name -> (public file, rows, kind)
    "aime24": ("aime24_nofigures.jsonl", 30, "math"),
    "aime25": ("aime25_nofigures.jsonl", 30, "math"),
    "math500": ("math500_test.jsonl", 500, "math"),
    "gpqa_diamond": ("gpqa_diamond.csv", 198, "mc"),
}
GPQA_FIELDS = ["Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3"]


def _eval_file(shared_data: Path, name: str) -> Path:
    return shared_data / "eval" / REAL[name][0]


# --------------------------------------------------------------------------- the public files


@pytest.mark.realdata
@pytest.mark.parametrize("name", list(REAL))
def test_real_files_load_with_counts_kinds_and_prompts(shared_data, name):
    file, rows, kind = REAL[name]
    bench = load_benchmark(_eval_file(shared_data, name), seed=0)
    assert isinstance(bench, Benchmark)
    assert (bench.name, bench.kind, len(bench)) == (Path(file).stem, kind, rows)
    items = bench.items
    assert list(items.columns) == BENCHMARK_COLUMNS
    assert items["qid"].is_unique and all(isinstance(q, str) for q in items["qid"])
    assert all(isinstance(a, str) and a for a in items["answer"])
    for question, prompt in zip(items["question"], items["prompt"], strict=True):
        assert question.strip() in prompt
    if kind == "math":
        assert items["choices"].isna().all()
        assert items["prompt"][0] == items["question"][0]  # s1's math tasks send the bare question
    else:
        assert set(items["answer"]) <= set("ABCD")
        assert all(len(json.loads(c)) == 4 for c in items["choices"])


@pytest.mark.realdata
def test_real_ids_and_answers_are_strings_as_in_the_files(shared_data):
    aime24 = load_benchmark(_eval_file(shared_data, "aime24"), seed=0).items
    assert aime24["qid"][0] == "60" and "025" in set(aime24["answer"])  # leading zeros kept
    aime25 = load_benchmark(_eval_file(shared_data, "aime25"), seed=0).items  # int answers in the file
    assert aime25["answer"][0] == "70" and aime25["qid"][0] == "0"
    math500 = load_benchmark(_eval_file(shared_data, "math500"), seed=0).items
    assert math500["qid"][0] == "test/precalculus/807.json"
    assert math500["answer"][0] == "\\left( 3, \\frac{\\pi}{2} \\right)"


@pytest.mark.realdata
def test_gpqa_shuffle_balanced_stable_and_row_order_independent(shared_data):
    path = _eval_file(shared_data, "gpqa_diamond")
    raw = read_table(path)
    a = load_benchmark(path, seed=0).items
    b = load_benchmark(path, seed=0).items
    pd.testing.assert_frame_equal(a, b)
    for seed in (0, 1, 2):
        counts = Counter(load_benchmark(path, seed=seed).items["answer"])
        assert set(counts) == set("ABCD")
        assert all(30 <= n <= 70 for n in counts.values()), counts
    other_seed = load_benchmark(path, seed=1).items
    assert (other_seed["answer"] != a["answer"]).sum() > 50
    # the order of rows does not change any question's shuffle
    reversed_items = benchmark_from_table(raw.iloc[::-1], name="g", where="reversed", seed=0).items
    merged = a.merge(reversed_items, on="qid", suffixes=("", "_rev"))
    assert len(merged) == 198
    assert (merged["answer"] == merged["answer_rev"]).all() and (merged["choices"] == merged["choices_rev"]).all()
    # the letter points at the correct answer; the choices are the four options
    by_id = raw.set_index("Record ID")
    for row in a.itertuples():
        choices = json.loads(row.choices)
        src = by_id.loc[row.qid]
        assert sorted(choices) == sorted(str(src[f]).strip() for f in GPQA_FIELDS)
        assert choices["ABCD".index(row.answer)] == str(src["Correct Answer"]).strip()
    first = a.iloc[0]
    c = json.loads(first["choices"])
    raw_row = by_id.loc[first["qid"]]
    raw_options = {str(raw_row[f]).strip(): str(raw_row[f]) for f in GPQA_FIELDS}
    expected = S1_MC_TEMPLATE.replace("{Question}", str(raw_row["Question"]))
    for letter, text in zip("ABCD", c, strict=True):
        expected = expected.replace("{" + letter + "}", raw_options[text])
    assert first["prompt"] == expected


@pytest.mark.realdata
def test_plain_style_and_limit(shared_data):
    bench = load_benchmark(_eval_file(shared_data, "math500"), seed=0, prompt_style="plain", limit=7)
    assert len(bench) == 7 and bench.prompt_style == "plain"
    assert (bench.items["prompt"] == bench.items["question"]).all()
    gpqa = load_benchmark(_eval_file(shared_data, "gpqa_diamond"), seed=0, prompt_style="plain", limit=3).items
    for row in gpqa.itertuples():
        opts = json.loads(row.choices)
        assert row.prompt.startswith(row.question.rstrip())
        assert row.prompt.endswith("\n".join(f"{x}) {o}" for x, o in zip("ABCD", opts, strict=True)))
        assert "Answer the following" not in row.prompt


# --------------------------------------------------------------------------- hub loading (faked)


def _fake_hub(shared_data: Path, calls: list):
    import datasets

    files = {spec.dataset: _eval_file(shared_data, name) for name, spec in HUB_BENCHMARKS.items()}

    def load_dataset(path, name=None, *, split=None):
        calls.append((path, name, split))
        df = read_table(files[path])
        if path == "Idavidrein/gpqa":
            df = df[["Question", *GPQA_FIELDS, "Record ID"]]
        return datasets.Dataset.from_pandas(df, preserve_index=False)

    return load_dataset


@pytest.mark.realdata
def test_known_names_load_from_the_hub_with_an_injected_loader(shared_data):
    calls: list = []
    fake = _fake_hub(shared_data, calls)
    for name, (_, rows, kind) in REAL.items():
        bench = load_benchmark(name, seed=0, load_dataset=fake)
        assert (bench.name, bench.kind, len(bench)) == (name, kind, rows)
        assert bench.source.startswith("hub:")
    assert calls == [("simplescaling/aime24_nofigures", None, "train"),
                     ("simplescaling/aime25_nofigures", None, "train"),
                     ("HuggingFaceH4/MATH-500", None, "test"),
                     ("Idavidrein/gpqa", "gpqa_diamond", "train")]
    hub_gpqa = load_benchmark("gpqa_diamond", seed=0, load_dataset=fake).items
    file_gpqa = load_benchmark(_eval_file(shared_data, "gpqa_diamond"), seed=0).items
    pd.testing.assert_frame_equal(hub_gpqa, file_gpqa)


def test_hub_spec_is_configurable_and_hub_errors_name_the_dataset():
    import datasets

    calls = []

    def fake(path, name=None, *, split=None):
        calls.append((path, name, split))
        return datasets.Dataset.from_dict({"problem": ["1+1?"], "answer": [2], "id": [5]})

    bench = load_benchmark("aime25", seed=0, load_dataset=fake, hub={"dataset": "TIGER-Lab/AIME25", "split": "train"})
    assert calls == [("TIGER-Lab/AIME25", None, "train")]
    assert bench.name == "aime25" and bench.items["answer"].tolist() == ["2"] and bench.items["qid"].tolist() == ["5"]
    bench = load_benchmark("mine", seed=0, load_dataset=fake, hub=HubSpec("me/mine", "cfg", "validation"))
    assert bench.name == "mine" and calls[-1] == ("me/mine", "cfg", "validation")

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    with pytest.raises(InputFileError, match=r"hub:simplescaling/aime24_nofigures.*no network"):
        load_benchmark("aime24", seed=0, load_dataset=offline)
    with pytest.raises(InputFileError, match=r"hub:x/empty.*empty"):
        load_benchmark("e", seed=0, hub={"dataset": "x/empty"},
                       load_dataset=lambda *a, **k: datasets.Dataset.from_dict({"problem": [], "answer": []}))
    with pytest.raises(ConfigError, match="dataset"):
        load_benchmark("aime24", seed=0, load_dataset=fake, hub={"split": "train"})


# --------------------------------------------------------------------------- synthetic eval sets


def test_synthetic_eval_sets_load_with_their_kinds(tmp_path):
    from s1flow.nano import generate_eval_sets

    sets = generate_eval_sets(3, n_per_set=12)
    for name, df in sets.items():
        write_parquet(df, tmp_path / f"{name}.parquet")
        plain = load_benchmark(tmp_path / f"{name}.parquet", seed=0, prompt_style="plain")
        s1 = load_benchmark(tmp_path / f"{name}.parquet", seed=0, prompt_style="simple-evals")
        assert plain.name == name and len(plain) == 12
        assert plain.items["qid"].tolist() == df["id"].tolist()
        # plain prompts are the raw questions (the synthetic MC questions already list their options)
        assert (plain.items["prompt"] == df["question"]).all()
        if name == "synth_mc":
            assert plain.kind == "mc" and s1.kind == "mc"
            assert plain.items["answer"].tolist() == df["answer"].tolist()  # no reshuffle: the text lists the order
            assert [json.loads(c) for c in plain.items["choices"]] == [json.loads(c) for c in df["choices"]]
            assert all(p.startswith("Answer the following multiple choice question.") for p in s1.items["prompt"])
        else:
            assert plain.kind == "math"
            assert plain.items["answer"].tolist() == df["answer"].tolist()
            assert plain.items["choices"].isna().all()


def test_choice_lists_with_text_answers_and_other_sizes():
    df = pd.DataFrame({"question": ["Pick red.", "Pick two."], "choices": [["blue", "red", "green"], '["1", "2"]'],
                       "answer": ["red", "(b)"]})
    bench = benchmark_from_table(df, name="t", where="t.json", seed=0)
    assert bench.kind == "mc" and bench.items["answer"].tolist() == ["B", "B"]
    assert bench.items["qid"].tolist() == ["0", "1"]  # no id column: row numbers
    prompt = bench.items["prompt"][0]
    assert prompt == "Pick red.\n\nA) blue\nB) red\nC) green"
    evals = benchmark_from_table(df, name="t", where="t.json", seed=0, prompt_style="simple-evals").items["prompt"][0]
    assert "where LETTER is one of ABC." in evals and evals.endswith("A) blue\nB) red\nC) green")


# --------------------------------------------------------------------------- local formats and prompts


@pytest.mark.parametrize("suffix", ["jsonl", "json", "csv", "parquet"])
def test_local_formats_and_field_names(tmp_path, suffix):
    df = pd.DataFrame({"Question": ["What is 2+2?", "What is 3*3?"], "final_answer": ["4", "9"],
                       "idx": [10, 11]})
    path = tmp_path / f"bench.{suffix}"
    if suffix == "parquet":
        write_parquet(df, path)
    elif suffix == "jsonl":
        df.to_json(path, orient="records", lines=True)
    elif suffix == "json":
        path.write_text(json.dumps({"data": df.to_dict("records")}))
    else:
        df.to_csv(path, index=False)
    bench = load_benchmark(path, seed=0, name="tiny")
    assert bench.name == "tiny" and bench.kind == "math"
    assert bench.items["qid"].tolist() == ["10", "11"] and bench.items["answer"].tolist() == ["4", "9"]
    assert load_benchmark(path, seed=0).name == "bench"


def test_dataset_text_is_never_formatted_or_evaluated():
    q = "Evaluate {Question} and {A} and {0} and {__import__('os')} and \\1 and \\g<0>."
    prompt = make_prompt(q, "math", "s1")
    assert prompt == S1_MATH_TEMPLATE.replace("{Question}", q)
    mc = make_prompt(q, "mc", "s1", ["{B}", "{Question}", "\\g<0>", "x"])
    assert q in mc and "A) {B}\nB) {Question}\nC) \\g<0>\nD) x" in mc
    assert make_prompt(q, "math", "plain") == q


def test_shuffle_choices_depends_on_seed_and_qid_only():
    a = shuffle_choices("right", ["w1", "w2", "w3"], seed=5, qid="q1")
    assert a == shuffle_choices("right", ["w1", "w2", "w3"], seed=5, qid="q1")
    assert a[0]["ABCD".index(a[1])] == "right"
    letters = {shuffle_choices("right", ["w1", "w2", "w3"], seed=5, qid=f"q{i}")[1] for i in range(40)}
    assert letters == set("ABCD")


# --------------------------------------------------------------------------- errors


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(InputFileError, match=r"nope\.jsonl: file not found"):
        load_benchmark(tmp_path / "nope.jsonl", seed=0)
    with pytest.raises(InputFileError, match=r"aime2099: not a known benchmark \(aime24, aime25"):
        load_benchmark("aime2099", seed=0)


def test_unreadable_files(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "x", "answer": "1"}\n{not json\n')
    with pytest.raises(InputFileError, match=r"bad\.jsonl:2: invalid JSON"):
        load_benchmark(bad, seed=0)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not a parquet file at all")
    with pytest.raises(InputFileError, match=r"garbage\.parquet: cannot read as parquet"):
        load_benchmark(garbage, seed=0)
    odd = tmp_path / "bench.txt"
    odd.write_text("hello")
    with pytest.raises(InputFileError, match=r"bench\.txt: cannot tell the table format"):
        load_benchmark(odd, seed=0)


def test_table_content_errors_name_file_and_field(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(InputFileError, match=r"empty\.jsonl: the table is empty"):
        load_benchmark(empty, seed=0)

    def write(name, records):
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        return path

    with pytest.raises(InputFileError, match=r"noq\.jsonl: no question field; expected one of \['question'"):
        load_benchmark(write("noq.jsonl", [{"text": "x", "answer": "1"}]), seed=0)
    with pytest.raises(InputFileError, match=r"noans\.jsonl: no answer field; expected one of \['answer'"):
        load_benchmark(write("noans.jsonl", [{"problem": "x", "solution": "1"}]), seed=0)
    with pytest.raises(InputFileError, match=r"nullans\.jsonl: answer column 'answer' is null or empty in row 1"):
        load_benchmark(write("nullans.jsonl", [{"problem": "x", "answer": "1"}, {"problem": "y", "answer": None}]),
                       seed=0)
    with pytest.raises(InputFileError, match=r"nullq\.jsonl: column 'problem' is null in row 0"):
        load_benchmark(write("nullq.jsonl", [{"problem": None, "answer": "1"}]), seed=0)
    with pytest.raises(InputFileError, match=r"dup\.jsonl: id column 'id' has duplicate value '7'"):
        load_benchmark(write("dup.jsonl", [{"problem": "x", "answer": "1", "id": 7}, {"problem": "y", "answer": "2",
                                                                                    "id": 7}]), seed=0)
    with pytest.raises(InputFileError, match=r"mc\.jsonl: column 'answer' row 0 holds 'E'"):
        load_benchmark(write("mc.jsonl", [{"question": "x", "choices": ["a", "b", "c", "d"], "answer": "E"}]), seed=0)
    with pytest.raises(InputFileError, match=r"mc2\.jsonl: column 'choices' row 0 is not a JSON list"):
        load_benchmark(write("mc2.jsonl", [{"question": "x", "choices": "[a, b", "answer": "A"}]), seed=0)
    with pytest.raises(InputFileError, match=r"mc3\.jsonl: multiple-choice table \(column 'choices'\) has no answer"):
        load_benchmark(write("mc3.jsonl", [{"question": "x", "choices": ["a", "b"]}]), seed=0)
    gpqa = tmp_path / "gpqa.csv"
    pd.DataFrame({"Question": ["q"], "Correct Answer": ["r"], "Incorrect Answer 1": ["w"],
                  "Incorrect Answer 2": [None], "Incorrect Answer 3": ["v"]}).to_csv(gpqa, index=False)
    with pytest.raises(InputFileError, match=r"gpqa\.csv: column 'Incorrect Answer 2' is null in row 0"):
        load_benchmark(gpqa, seed=0)


def test_bad_options(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text('{"problem": "x", "answer": "1"}\n')
    with pytest.raises(ConfigError, match="prompt_style"):
        load_benchmark(path, seed=0, prompt_style="fancy")
    for limit in (0, -1, 2.5, True):
        with pytest.raises(ConfigError, match="limit"):
            load_benchmark(path, seed=0, limit=limit)


# --------------------------------------------------------------------------- s1's task prompts (S1_REFERENCE 9.3)


def test_s1_style_is_the_bare_question_and_s1s_gpqa_template_literally():
    assert make_prompt("  Find $x$.\n", "math", "s1") == "  Find $x$.\n"
    mc = make_prompt(" Which one?", "mc", "s1", ["10^-4 eV ", " 2 m", "three", "four"])
    assert mc == " Which one?\n\nA) 10^-4 eV \nB)  2 m\nC) three\nD) four"
    assert "step by step" not in mc and "Answer:" not in make_prompt("Find x.", "math", "s1")


def test_simple_evals_style_keeps_the_instruction_templates():
    math = make_prompt(" Find x. ", "math", "simple-evals")
    assert math == ("Solve the following math problem step by step. The last line of your response should be of "
                    "the form Answer: $ANSWER (without quotes) where $ANSWER is the answer to the problem.\n\n"
                    "Find x.\n\nRemember to put your answer on its own line after \"Answer:\", and you do not need to "
                    "use a \\boxed command.")
    mc = make_prompt("Q?", "mc", "simple-evals", ["a", "b", "c", "d"])
    assert mc.startswith("Answer the following multiple choice question.") and mc.endswith(
        "\n\nQ?\n\nA) a\nB) b\nC) c\nD) d")


def test_s1_choice_shuffle_is_one_stream_seeded_zero_over_the_rows():
    import random

    rows = pd.DataFrame({"Record ID": ["r1", "r2", "r3"], "Question": ["q1", "q2", "q3"],
                         "Correct Answer": ["c1", "c2", "c3"], "Incorrect Answer 1": ["x1", "x2", "x3"],
                         "Incorrect Answer 2": ["y1", "y2", "y3"], "Incorrect Answer 3": ["z1", "z2", "z3"]})
    bench = benchmark_from_table(rows, name="g", where="t", seed=7, choice_shuffle="s1").items
    # s1's process_docs: choices = [incorrect 1, 2, 3, correct]; random.shuffle(choices), with random seeded 0
    rng = random.Random(0)
    for k, row in bench.iterrows():
        expected = [f"x{k + 1}", f"y{k + 1}", f"z{k + 1}", f"c{k + 1}"]
        rng.shuffle(expected)
        assert json.loads(row["choices"]) == expected
        assert row["answer"] == "ABCD"[expected.index(f"c{k + 1}")]
        assert row["prompt"] == f"q{k + 1}\n\n" + "\n".join(f"{x}) {o}" for x, o in zip("ABCD", expected, strict=True))
    with pytest.raises(ConfigError, match="generation.choice_shuffle"):
        benchmark_from_table(rows, name="g", where="t", seed=7, choice_shuffle="sorted")
