"""The scaling figure: files are written, points are labelled, bad input is refused."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from s1flow.errors import InputFileError
from s1flow.generate.setting import Conditional, Forced, Open, Rejection, Vote
from s1flow.report.methods import POINT_COLUMNS
from s1flow.report.scaling_plot import plot_scaling, point_label, scaling_figure


def pt(evalset, method, model, setting, budget, tokens, acc, within=math.nan):
    """A point of `setting` (an s1flow.generate.setting kind) with its typed columns, as method_points makes it."""
    c = setting.columns()
    return {"evalset": evalset, "method": method, "model": model, "setting": setting.name,
            "cap": math.nan if c["cap"] is None else c["cap"], "num_wait": setting.num_wait,
            "min_thinking": c["min_thinking"], "stated_budget": math.nan if c["stated_budget"] is None
            else c["stated_budget"], "length_class": c["length_class"],
            "votes": setting.samples if isinstance(setting, Vote) else math.nan, "budget": budget,
            "mean_thinking_tokens": tokens, "accuracy": acc, "within": within}


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=POINT_COLUMNS)


def points(evalsets=("aime24", "math500")) -> pd.DataFrame:
    rows = []
    for k, e in enumerate(evalsets):
        for cap, tokens, acc in ((512, 500, 20 + k), (1024, 1000, 30 + k), (2048, 1900, 38 + k)):
            rows.append(pt(e, "budget forcing", "s1k", Forced(cap=cap), cap, tokens, acc))
        rows.append(pt(e, "budget forcing", "s1k", Forced(cap="auto", num_wait=2), 30000, 4000, 45 + k))
        rows.append(pt(e, "rejection sampling", "s1k", Rejection(cap=1024), 1024, 700, 25 + k))
        for n, tokens, acc in ((1, 800, 15), (4, 3200, 22), (16, 12800, 30)):
            rows.append(pt(e, "majority voting", "s1k", Vote(samples=n), math.nan, tokens, acc + k))
    return frame(rows)


@pytest.mark.parametrize(("method", "setting", "label"), [
    ("budget forcing", Forced(cap=512), "512"), ("budget forcing", Forced(cap="auto"), "auto"),
    ("budget forcing", Forced(cap="auto", num_wait=2), "w2"),
    ("budget forcing", Forced(cap="auto", num_wait=2).resolved(900), "w2"),
    ("budget forcing", Forced(cap=512, num_wait=1), "512w1"),
    ("budget forcing", Forced(cap=64, min_thinking=8), "64 m8"),
    ("rejection sampling", Rejection(cap=1024), "1024"), ("majority voting", Vote(samples=4), "@4"),
    ("token-conditional", Conditional(condition="tokens", condition_value=64, cap=512, forced=False), "64"),
    ("step-conditional + budget forcing", Conditional(condition="steps", condition_value=8, cap=128), "8s"),
    ("class-conditional", Conditional(condition="class", condition_value="short", cap=512), "short"),
    ("another method", Open(cap=256), "open:cap=256"),
])
def test_point_label(method, setting, label):
    """Labels come from the typed columns, whatever the setting label says."""
    point = pt("e", method, "m", setting, 0, 1, 1)
    assert point_label(point) == label
    assert method == "another method" or point_label({**point, "setting": "x"}) == label


def test_files_are_written(tmp_path):
    png, pdf = tmp_path / "fig" / "scaling.png", tmp_path / "fig" / "scaling.pdf"
    plot_scaling(points(), png, pdf, title="test")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1_000


def test_figure_content():
    fig = scaling_figure(points(("aime24", "math500", "gpqa")))
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["aime24", "math500", "gpqa"]
    assert axes[0].get_xscale() == "log" and axes[0].get_xlabel() == "Average thinking tokens"
    labels = sorted(t.get_text() for t in axes[0].texts)
    assert labels == sorted(["512", "1024", "2048", "w2", "1024", "@1", "@4", "@16"])
    ticks = [t.get_text() for t in axes[0].get_xticklabels()]
    assert all(t.isdigit() for t in ticks) and "1024" in ticks
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["budget forcing (sequential)", "budget forcing (sequential) + 2 Waits", "rejection sampling",
                      "majority voting (parallel)"]
    # the Wait setting is a line of its own, not joined to the caps
    bf = [line for line in axes[0].get_lines() if line.get_label() == "budget forcing (sequential)"]
    assert len(bf) == 1 and list(bf[0].get_xdata()) == [500, 1000, 1900]
    assert fig.get_supylabel() == "Accuracy (%)"


def test_waits_on_one_cap_are_one_line_from_that_cap():
    """s1's Figure 4a: 1/2/4/6 Waits extend cap auto alone; they continue its point in Wait order."""
    rows = [pt("aime24", "budget forcing", "s1k", Forced(cap=c), 3000 if c == "auto" else c, t, a)
            for c, t, a in ((512, 500, 20), (1024, 1000, 30), ("auto", 3000, 40))]
    rows += [pt("aime24", "budget forcing", "s1k", Forced(cap="auto", num_wait=w), 3000, t, a)
             for w, t, a in ((1, 3400, 42), (2, 3300, 44), (4, 3900, 41))]
    fig = scaling_figure(frame(rows))
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert set(lines) == {"budget forcing (sequential)", "budget forcing (sequential) + Waits (cap auto)"}
    chain = lines["budget forcing (sequential) + Waits (cap auto)"]
    assert list(chain.get_xdata()) == [3000, 3400, 3300, 3900]  # Wait order, not thinking-length order
    assert list(lines["budget forcing (sequential)"].get_xdata()) == [500, 1000, 3000]
    assert sorted(t.get_text() for t in fig.axes[0].texts) == sorted(["512", "1024", "auto", "w1", "w2", "w4"])


@pytest.mark.parametrize("n", [1, 4, 5])
def test_any_number_of_panels(tmp_path, n):
    names = [f"set{i}" for i in range(n)]
    fig = scaling_figure(points(names))
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == names


def test_several_models_get_their_own_lines():
    pts = pd.concat([points(("aime24",)), points(("aime24",)).assign(model="random")], ignore_index=True)
    fig = scaling_figure(pts)
    assert len(fig.axes[0].get_lines()) == 8  # per model: caps, caps with Waits, rejection sampling, votes
    assert "budget forcing (sequential), random" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_length_control_methods_get_a_row_of_their_own(tmp_path):
    extra = []
    for e in ("aime24", "math500"):
        for n, tokens, acc in ((64, 70, 10), (128, 90, 12)):
            tok = Conditional(condition="tokens", condition_value=n, cap=512, forced=False)
            extra.append(pt(e, "token-conditional", "tokencond", tok, 512, tokens, acc, 0.5))
            forced = Conditional(condition="tokens", condition_value=n, cap=n)
            extra.append(pt(e, "token-conditional + budget forcing", "tokencond", forced, n, n - 5, acc, 1.0))
        long = Conditional(condition="class", condition_value="long", cap=512, forced=False)
        extra.append(pt(e, "class-conditional", "s1k", long, 512, 900, 33, 1.0))
    pts = pd.concat([points(), frame(extra)], ignore_index=True)
    fig = scaling_figure(pts)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["aime24", "math500", "aime24: length control", "math500: length control"]
    bottom = fig.axes[2]
    kinds = {line.get_label().split(",")[0] for line in bottom.get_lines()}
    assert {"token-conditional", "token-conditional + budget forcing", "class-conditional",
            "budget forcing (sequential)", "rejection sampling"} <= kinds
    assert not any("Wait" in k or "majority" in k for k in kinds)  # the bottom row has no Wait lines, no votes
    assert "long" in [t.get_text() for t in bottom.texts]
    plot_scaling(pts, tmp_path / "s.png", tmp_path / "s.pdf")


def test_bad_input(tmp_path):
    with pytest.raises(InputFileError, match="no points"):
        plot_scaling(pd.DataFrame(columns=POINT_COLUMNS), tmp_path / "a.png", tmp_path / "a.pdf")
    with pytest.raises(InputFileError, match="no points"):
        plot_scaling(points().assign(mean_thinking_tokens=0), tmp_path / "a.png", tmp_path / "a.pdf")
    with pytest.raises(InputFileError, match=r"missing column\(s\) \['accuracy'\]"):
        plot_scaling(points().drop(columns="accuracy"), tmp_path / "a.png", tmp_path / "a.pdf")
    assert not (tmp_path / "a.png").exists()


def test_error_bars_from_the_point_intervals():
    """Every point with acc_low / acc_high gets a vertical bar at its x from low to high; none without them."""
    from matplotlib.collections import LineCollection

    pts = points(("aime24",)).assign(acc_low=lambda d: d["accuracy"] - 3, acc_high=lambda d: d["accuracy"] + 5)
    pts.loc[pts["setting"] == "maj@16", ["acc_low", "acc_high"]] = math.nan  # no interval: no bar
    ax = scaling_figure(pts).axes[0]
    bars = [s for c in ax.collections if isinstance(c, LineCollection) for s in c.get_segments()]
    assert len(bars) == len(pts) - 1
    assert sorted((s[0][0], s[0][1], s[1][1]) for s in bars) == sorted(
        (r["mean_thinking_tokens"], r["accuracy"] - 3, r["accuracy"] + 5) for _, r in pts.iterrows()
        if r["setting"] != "maj@16")
    assert len(ax.texts) > 0  # labels are still placed
    assert not scaling_figure(points(("aime24",)).drop(columns=["acc_low", "acc_high"])).axes[0].collections
    assert not scaling_figure(points(("aime24",))).axes[0].collections  # the columns empty
