"""The scaling figure: files are written, points are labelled, bad input is refused."""

from __future__ import annotations

import pandas as pd
import pytest

from s1flow.errors import InputFileError
from s1flow.report.methods import POINT_COLUMNS
from s1flow.report.scaling_plot import plot_scaling, point_label, scaling_figure


def points(evalsets=("aime24", "math500")) -> pd.DataFrame:
    rows = []
    for k, e in enumerate(evalsets):
        for cap, tokens, acc in ((512, 500, 20 + k), (1024, 1000, 30 + k), (2048, 1900, 38 + k)):
            rows.append((e, "budget forcing", "s1k", f"cap={cap}", cap, tokens, acc))
        rows.append((e, "budget forcing", "s1k", "cap=auto,wait=2", 30000, 4000, 45 + k))
        rows.append((e, "rejection sampling", "s1k", "rs:cap=1024", 1024, 700, 25 + k))
        for n, tokens, acc in ((1, 800, 15), (4, 3200, 22), (16, 12800, 30)):
            rows.append((e, "majority voting", "s1k", f"maj@{n}", float("nan"), tokens, acc + k))
    return pd.DataFrame(rows, columns=POINT_COLUMNS[:-1]).assign(within=float("nan"))


@pytest.mark.parametrize(("setting", "label"), [
    ("cap=512", "512"), ("cap=auto", "auto"), ("cap=auto,wait=2", "w2"), ("cap=512,wait=1", "512w1"),
    ("cap=64,min=8", "64 m8"), ("rs:cap=1024", "1024"), ("maj@4", "@4"), ("other", "other"),
])
def test_point_label(setting, label):
    assert point_label(setting) == label


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
    rows = [("aime24", "budget forcing", "s1k", f"cap={c}", c, t, a)
            for c, t, a in ((512, 500, 20), (1024, 1000, 30), ("auto", 3000, 40))]
    rows += [("aime24", "budget forcing", "s1k", f"cap=auto,wait={w}", "auto", t, a)
             for w, t, a in ((1, 3400, 42), (2, 3300, 44), (4, 3900, 41))]
    fig = scaling_figure(pd.DataFrame(rows, columns=POINT_COLUMNS[:-1]).assign(within=float("nan")))
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
            extra.append((e, "token-conditional", "tokencond", f"tok={n}", 512, tokens, acc, 0.5))
            extra.append((e, "token-conditional + budget forcing", "tokencond", f"tok={n},cap={n}", n, n - 5, acc, 1.0))
        extra.append((e, "class-conditional", "s1k", "class=long", 512, 900, 33, 1.0))
    pts = pd.concat([points(), pd.DataFrame(extra, columns=POINT_COLUMNS)], ignore_index=True)
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
