"""The data-ablation table: hand-computed accuracies, paired deltas, writers and input errors."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from s1flow.errors import ConfigError, InputFileError
from s1flow.generate.grading import per_question_correct
from s1flow.report.ablation import (
    ABLATION_COLUMNS,
    ablation_latex,
    ablation_markdown,
    ablation_table,
    read_ablation_csv,
    write_ablation,
)
from s1flow.report.bootstrap import paired_bootstrap
from s1flow.report.replicates import single

COLS = ["qid", "setting", "budget", "num_wait", "sample", "thinking", "answer", "thinking_tokens", "finish",
        "extracted", "correct"]


def samples(correct: dict[str, list[bool]], qids: list[str]) -> pd.DataFrame:
    """One greedy sample per question and setting; `correct` maps setting -> per-question correctness."""
    rows = [(q, s, 512, 0, 0, "t", "a", 100, "stop", "1" if ok else "2", ok)
            for s, oks in correct.items() for q, ok in zip(qids, oks, strict=True)]
    return pd.DataFrame(rows, columns=COLS)


AIME = ["a1", "a2", "a3", "a4"]
GPQA = ["g1", "g2", "g3", "g4", "g5"]


def plain() -> dict[tuple[str, str], pd.DataFrame]:
    return {
        # s1k: aime 3/4 = 75 %, gpqa 4/5 = 80 %; the other setting must not leak in
        ("s1k", "aime"): samples({"cap=512": [True, True, True, False], "cap=64": [False] * 4}, AIME),
        ("s1k", "gpqa_diamond"): samples({"cap=512": [True, True, False, True, True]}, GPQA),
        # random: aime 2/4 = 50 % (delta -25), gpqa 2/5 = 40 % (delta -40); rows in another question order
        ("random", "aime"): samples({"cap=512": [False, True, False, True]}, ["a4", "a3", "a2", "a1"]),
        ("random", "gpqa_diamond"): samples({"cap=512": [True, False, False, True, False]}, GPQA),
    }


def tables():
    """The plain tables above, one replicate each."""
    return single(plain())


def test_per_question_correct_votes_over_samples():
    rows = [("q1", "maj", 0, "5", True), ("q1", "maj", 1, "4", False), ("q1", "maj", 2, "$5$", True),
            ("q2", "maj", 0, "8", False), ("q2", "maj", 1, "7", True), ("q2", "maj", 2, "8", False),
            ("q1", "one", 0, "5", True)]
    df = pd.DataFrame(rows, columns=["qid", "setting", "sample", "extracted", "correct"])
    out = per_question_correct(df)
    assert list(out.columns) == ["setting", "qid", "correct"]
    # q1 votes "5" (2 of 3 once "$5$" is normalised) -> correct; q2 votes "8" -> wrong
    assert out.values.tolist() == [["maj", "q1", True], ["maj", "q2", False], ["one", "q1", True]]


def test_ablation_numbers_by_hand():
    table = ablation_table(tables(), setting="cap=512", reference="s1k", n_resamples=2000, seed=0)
    assert list(table.columns) == ABLATION_COLUMNS
    assert table[["model", "evalset"]].values.tolist() == [
        ["s1k", "aime"], ["s1k", "gpqa_diamond"], ["random", "aime"], ["random", "gpqa_diamond"]]
    assert table["n_questions"].tolist() == [4, 5, 4, 5]
    assert table["accuracy"].tolist() == pytest.approx([75.0, 80.0, 50.0, 40.0])
    assert table["delta"].tolist() == pytest.approx([0.0, 0.0, -25.0, -40.0])
    ref = table[table["model"] == "s1k"]
    assert (ref[["delta_low", "delta_high"]] == 0).all().all()
    assert (table["ci_low"] <= table["accuracy"]).all() and (table["accuracy"] <= table["ci_high"]).all()
    assert set(table["setting"]) == {"cap=512"} and set(table["reference"]) == {"s1k"}
    assert set(table["n_resamples"]) == {2000} and set(table["seed"]) == {0}
    # the random/aime interval is a paired bootstrap over the reference's question order (a1..a4)
    res = paired_bootstrap([1, 0, 1, 0], [1, 1, 1, 0], n_resamples=2000, seed=0)
    row = table.iloc[2]
    assert (row["delta_low"], row["delta_high"], row["ci_low"], row["ci_high"]) == pytest.approx(
        (res.delta_low, res.delta_high, res.low, res.high))


def test_a_model_with_a_setting_of_its_own():
    """A base model answering on its own (open:cap=512) is compared with the reference at cap=512."""
    t = plain()
    t[("base", "aime")] = samples({"open:cap=512": [True, False, False, False], "cap=512": [True] * 4}, AIME)
    t = single(t)
    table = ablation_table(t, setting="cap=512", reference="s1k", n_resamples=500, seed=0,
                           model_settings={"base": "open:cap=512"})
    base = table[table["model"] == "base"].iloc[0]
    assert base["setting"] == "open:cap=512"
    assert (base["accuracy"], base["delta"]) == pytest.approx((25.0, -50.0))
    assert set(table.loc[table["model"] != "base", "setting"]) == {"cap=512"}
    md, tex = ablation_markdown(table), ablation_latex(table)
    assert md.startswith("Accuracy (%) at setting `cap=512` (`base`: `open:cap=512`)")
    assert "\\texttt{base}: \\texttt{open:cap=512}" in tex
    # the reference itself may have its own setting: every difference is taken against it
    t[("s1k", "aime")] = {None: samples({"open:cap=512": [False] * 4}, AIME)}
    own = ablation_table({k: v for k, v in t.items() if k[1] == "aime"}, setting="cap=512", n_resamples=200,
                         seed=0, model_settings={"s1k": "open:cap=512", "base": "open:cap=512"})
    assert own.set_index("model")["delta"].to_dict() == pytest.approx({"s1k": 0.0, "random": 50.0, "base": 25.0})


def test_writers_round_trip_and_show_the_numbers(tmp_path):
    table = ablation_table(tables(), setting="cap=512", n_resamples=1000, seed=3)
    md, csv, tex = tmp_path / "t.md", tmp_path / "out" / "t.csv", tmp_path / "t.tex"
    write_ablation(table, md=md, csv=csv, tex=tex)
    back = read_ablation_csv(csv)
    pd.testing.assert_frame_equal(back, table)
    # recomputing from the samples gives the CSV's numbers exactly
    pd.testing.assert_frame_equal(ablation_table(tables(), setting="cap=512", n_resamples=1000, seed=3), back)

    text = md.read_text()
    r = table.iloc[2]
    assert f"75.0 [{table.iloc[0]['ci_low']:.1f}, {table.iloc[0]['ci_high']:.1f}]" in text
    assert f"−25.0 [{r['delta_low']:.1f}, {r['delta_high']:.1f}]".replace("-", "−") in text
    assert "| s1k (reference) |" in text and "aime (n=4, 1 question = 25 pts)" in text and "Δ gpqa_diamond" in text
    assert "`cap=512`" in text and "1,000 resamples" in text and "seed 3" in text and "`s1k`" in text

    latex = tex.read_text()
    assert "gpqa\\_diamond" in latex and "gpqa_diamond" not in latex
    assert "$-$25.0" in latex and "$-$40.0" in latex and "95\\% CI" in latex
    assert latex.count("{") == latex.count("}")
    for env in ("table", "tabular"):
        assert latex.count(f"\\begin{{{env}}}") == latex.count(f"\\end{{{env}}}") == 1
    body = latex[latex.index("\\midrule"):latex.index("\\bottomrule")].splitlines()[1:]
    assert len(body) == 2 and all(line.count("&") == 4 and line.endswith("\\\\") for line in body)
    assert re.search(r"\\begin\{tabular\}\{lcccc\}", latex)
    assert "% " not in latex.replace("\\%", "")  # every percent sign is escaped
    assert "($n=5$, 1 question = 20 pts)" in latex and "Smallest detectable difference (80 \\% power" in latex


def test_missing_cells_and_tex_escaping():
    t = tables()
    del t[("random", "gpqa_diamond")]
    table = ablation_table(t, setting="cap=512", reference="s1k", n_resamples=200, seed=0)
    assert len(table) == 3
    md = ablation_markdown(table)
    assert "| random | 50.0" in md and "— | — |\n\nSmallest detectable difference" in md
    assert md.rstrip().endswith("gpqa_diamond n/a.")  # no model to compare with the reference there
    table["model"] = table["model"].replace({"random": "r_100%"})
    assert "r\\_100\\%" in ablation_latex(table)


def test_requested_setting_missing():
    with pytest.raises(ConfigError, match=r"model 's1k' on eval set 'aime': no rows for setting 'cap=9'"):
        ablation_table(tables(), setting="cap=9", seed=0)


def test_reference_missing():
    with pytest.raises(ConfigError, match="reference model 'full' has no samples"):
        ablation_table(tables(), setting="cap=512", reference="full", seed=0)
    t = tables()
    del t[("s1k", "aime")]
    with pytest.raises(ConfigError, match="'s1k' has no samples on eval set 'aime'"):
        ablation_table(t, setting="cap=512", seed=0)


def test_question_sets_must_match():
    t = tables()
    t[("random", "aime")] = {None: samples({"cap=512": [True, True, True]}, ["a1", "a2", "zz"])}
    with pytest.raises(InputFileError, match=r"model 'random' on eval set 'aime': questions differ .*1 only here "
                                             r"\(e.g. \['zz'\]\), 2 only in the reference"):
        ablation_table(t, setting="cap=512", seed=0)


def test_read_csv_validates(tmp_path):
    table = ablation_table(tables(), setting="cap=512", n_resamples=100, seed=0)
    path = tmp_path / "a.csv"
    table.drop(columns="delta_low").to_csv(path, index=False)
    with pytest.raises(InputFileError, match=r"a\.csv: missing column\(s\) \['delta_low'\]"):
        read_ablation_csv(path)
    table.assign(accuracy="high").to_csv(path, index=False)
    with pytest.raises(InputFileError, match="column 'accuracy' row 0 is not a number"):
        read_ablation_csv(path)
    with pytest.raises(InputFileError, match="file not found"):
        read_ablation_csv(tmp_path / "none.csv")


# --------------------------------------------------------------------------- replicates (training seeds)

Q10 = [f"q{i}" for i in range(10)]


def seeded(accuracies: dict[int, int], setting: str = "cap=512") -> dict[int, pd.DataFrame]:
    """One table per training seed whose first `accuracy // 10` of ten questions are right."""
    return {s: samples({setting: [i < acc // 10 for i in range(10)]}, Q10) for s, acc in accuracies.items()}


def test_replicate_mean_by_hand():
    """Two training seeds at 60 % and 40 % make 50 %; the reference's own row has delta 0 and no detectable."""
    t = {("s1k", "aime"): seeded({1: 60, 2: 40}), ("random", "aime"): seeded({1: 30, 2: 10}),
         ("base", "aime"): {None: samples({"cap=512": [True] * 2 + [False] * 8}, Q10)}}
    table = ablation_table(t, setting="cap=512", reference="s1k", n_resamples=1000, seed=0).set_index("model")
    assert table["accuracy"].to_dict() == pytest.approx({"s1k": 50.0, "random": 20.0, "base": 20.0})
    assert table["delta"].to_dict() == pytest.approx({"s1k": 0.0, "random": -30.0, "base": -30.0})
    assert table["n_replicates"].to_dict() == {"s1k": 2, "random": 2, "base": 1}
    assert set(table["n_samples"]) == {1} and set(table["resolution"]) == {10.0}
    ref = table.loc["s1k"]
    assert (ref["delta_low"], ref["delta_high"]) == (0.0, 0.0) and pd.isna(ref["detectable"])
    assert (table.loc[["random", "base"], "detectable"] > 0).all()
    assert (table["ci_low"] <= table["accuracy"]).all() and (table["accuracy"] <= table["ci_high"]).all()
    md = ablation_markdown(table.reset_index())
    assert "the mean over training seeds (2; `base`: 1)" in md and "nested paired bootstrap" in md
    assert "aime (n=10, 1 question = 10 pts)" in md


def test_resolution_is_one_question():
    table = ablation_table(tables(), setting="cap=512", n_resamples=100, seed=0)
    assert table["resolution"].tolist() == pytest.approx([25.0, 20.0, 25.0, 20.0])  # 100 / 4 and 100 / 5


def test_an_identical_second_replicate_changes_no_interval():
    """A second training seed that answers exactly like the first adds no spread: the question-level
    bootstrap is all there is, so intervals and the detectable difference stay as they were."""
    one = {("s1k", "aime"): seeded({1: 70}), ("random", "aime"): seeded({1: 40})}
    two = {("s1k", "aime"): seeded({1: 70, 2: 70}), ("random", "aime"): seeded({1: 40, 2: 40})}
    a = ablation_table(one, setting="cap=512", n_resamples=2000, seed=4)
    b = ablation_table(two, setting="cap=512", n_resamples=2000, seed=4)
    cols = ["accuracy", "ci_low", "ci_high", "delta", "delta_low", "delta_high", "detectable"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert b["n_replicates"].tolist() == [2, 2]


def test_seeds_pair_by_value_whatever_the_order_given():
    """Two models with the same per-seed tables, given in opposite seed order, differ by exactly 0."""
    reps = seeded({1: 70, 2: 20})
    t = {("s1k", "aime"): reps, ("copy", "aime"): {2: reps[2], 1: reps[1]}}
    row = ablation_table(t, setting="cap=512", n_resamples=500, seed=0).iloc[1]
    assert (row["delta"], row["delta_low"], row["delta_high"], row["detectable"]) == (0.0, 0.0, 0.0, 0.0)


def test_a_sampled_setting_is_the_mean_over_its_samples():
    """avg@n: q1 right in 1 of 2 samples, q2 in 2 of 2 -> 75 % (a majority vote would say 50 % or 100 %)."""
    rows = [(q, "t=0.6", 512, 0, s, "t", "a", 100, "stop", "1" if ok else "2", ok)
            for q, oks in (("a1", [True, False]), ("a2", [True, True])) for s, ok in enumerate(oks)]
    t = {("s1k", "aime"): {None: pd.DataFrame(rows, columns=COLS)}}
    row = ablation_table(t, setting="t=0.6", n_resamples=200, seed=0).iloc[0]
    assert (row["accuracy"], row["n_samples"], row["n_questions"]) == (75.0, 2, 2)


def test_a_majority_vote_setting_stays_a_vote():
    """A majority-voting setting is one value per question: q1 votes 5 (right), q2 votes 8 (wrong) -> 50 %."""
    rows = [(q, "maj@3", 512, 0, s, "t", "a", 100, "stop", x, ok, "majority_vote", 3)
            for q, answers in (("a1", [("5", True), ("4", False), ("5", True)]),
                               ("a2", [("8", False), ("7", True), ("8", False)]))
            for s, (x, ok) in enumerate(answers)]
    df = pd.DataFrame(rows, columns=[*COLS, "method", "samples_per_question"])
    row = ablation_table({("s1k", "aime"): {None: df}}, setting="maj@3", n_resamples=200, seed=0).iloc[0]
    assert (row["accuracy"], row["n_samples"]) == (50.0, 1)


def test_a_replicate_with_other_questions_is_named():
    reps = seeded({1: 50, 2: 50})
    reps[2] = samples({"cap=512": [True] * 10}, Q10[:9] + ["zz"])
    with pytest.raises(InputFileError, match=r"model 's1k' on eval set 'aime' \(training seed 2\): setting "
                                             r"'cap=512' has other questions than the .*training seed 1\)"):
        ablation_table({("s1k", "aime"): reps}, setting="cap=512", seed=0)


def test_a_replicate_with_other_samples_is_named():
    reps = seeded({1: 50, 3: 50})
    reps[3] = reps[3].assign(sample=1)
    with pytest.raises(InputFileError, match=r"\(training seed 3\): setting 'cap=512' has samples \[1\] per "
                                             r"question but the .* has \[0\]"):
        ablation_table({("s1k", "aime"): reps}, setting="cap=512", seed=0)


def test_read_csv_keeps_the_reference_detectable_empty(tmp_path):
    table = ablation_table(tables(), setting="cap=512", n_resamples=100, seed=0)
    path = tmp_path / "a.csv"
    write_ablation(table, md=tmp_path / "a.md", csv=path, tex=tmp_path / "a.tex")
    back = read_ablation_csv(path)
    assert back["detectable"].isna().tolist() == [True, True, False, False]
    table.assign(detectable="x").to_csv(path, index=False)
    with pytest.raises(InputFileError, match="column 'detectable' row 0 is not a number"):
        read_ablation_csv(path)
