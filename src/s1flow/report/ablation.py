"""The data-ablation table (the paper's Table 2): accuracy per training subset with nested bootstrap CIs.

Every model (e.g. one per training subset) is compared to a reference model on the same
questions of each eval set at one setting (a model may have its own, e.g. a base model's open
response). A model fine-tuned with several training seeds is evaluated once per seed: its
accuracy is the replicate mean (over questions, seeds and samples) and its intervals come from
a nested bootstrap over questions, training seeds and samples, paired with the reference on
all three levels (:func:`s1flow.report.bootstrap.nested_bootstrap_means`).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from s1flow.errors import ConfigError, InputFileError
from s1flow.io import read_table, require_columns, write_table, write_text
from s1flow.report.bootstrap import cube_mean, detectable_difference, nested_bootstrap_means, percentile_interval
from s1flow.report.replicates import Replicated, SettingCubes, question_difference, setting_cubes, where

ABLATION_COLUMNS = ["model", "evalset", "setting", "reference", "n_questions", "n_replicates", "n_samples",
                    "resolution", "accuracy", "ci_low", "ci_high", "delta", "delta_low", "delta_high", "detectable",
                    "n_resamples", "seed"]
_INT_COLUMNS = ["n_questions", "n_replicates", "n_samples", "n_resamples", "seed"]
_FLOAT_COLUMNS = ["resolution", "accuracy", "ci_low", "ci_high", "delta", "delta_low", "delta_high", "detectable"]
#: float columns that may be empty (the reference's own detectable difference)
_NULLABLE = ["detectable"]
_STR_COLUMNS = ["model", "evalset", "setting", "reference"]


def _aligned(cubes: SettingCubes, reference: SettingCubes, label: str, ref_label: str) -> SettingCubes:
    """`cubes` reordered to the reference's questions; an error when the two question sets differ."""
    only_here, only_ref = question_difference(cubes.qids, reference.qids)
    if only_here or only_ref:
        raise InputFileError(
            f"{label}: questions differ from the {ref_label}: {len(only_here)} only here "
            f"(e.g. {only_here[:3]}), {len(only_ref)} only in the reference (e.g. {only_ref[:3]}); "
            f"a paired comparison needs the same questions")
    return cubes.reordered(reference.qids)


def _is_vote(samples: pd.DataFrame, setting: str) -> int | None:
    """A majority-voting setting's number of votes (one value per question and seed), else None."""
    if "method" not in samples or "samples_per_question" not in samples:
        return None
    rows = samples[samples["setting"].astype(str) == setting]
    if rows.empty or str(rows["method"].iloc[0]) != "majority_vote":
        return None
    return int(rows["samples_per_question"].iloc[0])


def ablation_table(samples: Replicated, *, setting: str, reference: str = "s1k", n_resamples: int = 10_000,
                   seed: int, model_settings: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Accuracy at `setting` per (model, eval set), with a 95 % interval and the paired difference to `reference`.

    `samples` maps (model, eval set) to its replicates (training seed -> samples table; see
    :mod:`s1flow.report.replicates`). `accuracy` is the replicate mean: over questions of the
    mean over training seeds of the mean over samples (a majority-voting setting: its vote, one
    value per question and seed). Intervals are percentiles of one nested bootstrap per row
    over questions, training seeds and samples, drawn jointly for the model and the reference,
    so `delta` is paired on all three levels; `detectable` is the smallest true difference the
    design detects with 80 % power at a 5 % level (2.8 bootstrap standard errors of the
    difference; NaN on the reference's own row, which has nothing to detect). `resolution` is
    one question's weight (100 / questions). `model_settings` gives models a setting of their
    own (model -> setting name), e.g. a base model evaluated by its own response
    (``open:cap=B``); every difference is taken against the reference at its setting. Rows
    follow the models in the order given, then the eval sets in the order given; the
    reference's own row has delta 0 with a [0, 0] interval. Columns: :data:`ABLATION_COLUMNS`;
    accuracies, deltas, resolution and detectable in percent.
    """
    models = list(dict.fromkeys(m for m, _ in samples))
    evalsets = list(dict.fromkeys(e for _, e in samples))
    if reference not in models:
        raise ConfigError(f"ablation reference model '{reference}' has no samples; models: {models}")
    own = dict(model_settings or {})

    def setting_of(model: str) -> str:
        return own.get(model, setting)

    def cubes_of(model: str, evalset: str) -> SettingCubes:
        reps, name = samples[(model, evalset)], setting_of(model)
        votes = next((v for df in reps.values() if (v := _is_vote(df, name)) is not None), None)
        return setting_cubes(reps, name, model=model, evalset=evalset, votes=votes)

    refs = {}
    for evalset in evalsets:
        if (reference, evalset) not in samples:
            raise ConfigError(f"ablation: the reference model '{reference}' has no samples on eval set '{evalset}'")
        refs[evalset] = cubes_of(reference, evalset)
    rows = []
    for model in models:
        for evalset in evalsets:
            if (model, evalset) not in samples:
                continue
            ref = refs[evalset]
            cubes = _aligned(cubes_of(model, evalset), ref, where(model, evalset), f"reference model '{reference}'")
            draws = nested_bootstrap_means({"model": cubes.correct, "reference": ref.correct},
                                           n_resamples=n_resamples, seed=seed)
            diff = draws["model"] - draws["reference"]
            low, high = percentile_interval(draws["model"])
            d_low, d_high = percentile_interval(diff)
            n = len(cubes.qids)
            rows.append({"model": model, "evalset": evalset, "setting": setting_of(model), "reference": reference,
                         "n_questions": n, "n_replicates": len(cubes.replicates), "n_samples": cubes.n_samples,
                         "resolution": 100 / n, "accuracy": cube_mean(cubes.correct) * 100,
                         "ci_low": low * 100, "ci_high": high * 100,
                         "delta": (cube_mean(cubes.correct) - cube_mean(ref.correct)) * 100,
                         "delta_low": d_low * 100, "delta_high": d_high * 100,
                         "detectable": math.nan if model == reference else detectable_difference(diff) * 100,
                         "n_resamples": n_resamples, "seed": seed})
    return pd.DataFrame(rows, columns=ABLATION_COLUMNS)


def read_ablation_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read an ablation CSV written by :func:`write_ablation`, checking its columns and number types."""
    df = read_table(path, "csv")
    require_columns(df, ABLATION_COLUMNS, str(path))
    df = df[ABLATION_COLUMNS].copy()
    for col in _STR_COLUMNS:
        df[col] = df[col].astype(str)
    for col in _INT_COLUMNS + _FLOAT_COLUMNS:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & (df[col].notna() if col in _NULLABLE else True)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputFileError(f"{path}: column '{col}' row {row} is not a number: {df[col].iloc[row]!r}")
        df[col] = values.astype("int64" if col in _INT_COLUMNS else "float64")
    return df


# --------------------------------------------------------------------------- writers


def _one(table: pd.DataFrame, column: str) -> str:
    values = list(dict.fromkeys(table[column].astype(str)))
    if len(values) != 1:
        raise InputFileError(f"ablation table: expected one value in column '{column}', found {values}")
    return values[0]


def _num(value: float, minus: str) -> str:
    text = f"{value:.1f}"
    if text in ("-0.0", "0.0"):
        return "0.0"
    return text.replace("-", minus)


def _interval(value: float, low: float, high: float, minus: str) -> str:
    return f"{_num(value, minus)} [{_num(low, minus)}, {_num(high, minus)}]"


def _cells(table: pd.DataFrame) -> tuple[str, list[str], list[str], dict[str, int],
                                         dict[tuple[str, str], pd.Series]]:
    require_columns(table, ABLATION_COLUMNS, "ablation table")
    if table.empty:
        raise InputFileError("ablation table: no rows to write")
    reference = _one(table, "reference")
    models = list(dict.fromkeys(table["model"].astype(str)))
    evalsets = list(dict.fromkeys(table["evalset"].astype(str)))
    n = {e: int(table.loc[table["evalset"].astype(str) == e, "n_questions"].max()) for e in evalsets}
    by_key = {(str(r["model"]), str(r["evalset"])): r for _, r in table.iterrows()}
    return reference, models, evalsets, n, by_key


def _per_model(table: pd.DataFrame, column: str, code: str, esc: Callable[[str], str]) -> str:
    """A count column in words: its most common value, then the models that differ ('3; `base`: 1')."""
    values = {str(m): "/".join(str(v) for v in sorted(set(g[column].astype(int))))
              for m, g in table.groupby(table["model"].astype(str), sort=False)}
    common = Counter(values.values()).most_common(1)[0][0]
    others = [f"{code.format(esc(m))}: {v}" for m, v in values.items() if v != common]
    return "; ".join([common, *others])


def _caption(table: pd.DataFrame, code: str, pct: str, delta: str, esc: Callable[[str], str] = str) -> str:
    reference = _one(table, "reference")
    resamples, seed = int(_one(table, "n_resamples")), _one(table, "seed")
    settings = {str(m): str(s) for m, s in zip(table["model"], table["setting"], strict=True)}
    for model in settings:
        if len(set(table.loc[table["model"].astype(str) == model, "setting"].astype(str))) != 1:
            raise InputFileError(f"ablation table: model '{model}' has several settings")
    main = settings.get(reference) or _one(table, "setting")
    others = [f"{code.format(esc(m))}: {code.format(esc(s))}" for m, s in settings.items() if s != main]
    setting = code.format(esc(main)) + (f" ({', '.join(others)})" if others else "")
    seeds, samples = _per_model(table, "n_replicates", code, esc), _per_model(table, "n_samples", code, esc)
    reference = esc(reference)
    return (f"Accuracy ({pct}) at setting {setting}: the mean over training seeds ({seeds}) and samples per "
            f"question ({samples}), with 95{pct} confidence intervals from a nested paired bootstrap over "
            f"questions, training seeds and samples ({resamples:,} resamples, seed {seed}); {delta} = accuracy "
            f"minus the reference model {code.format(reference)} on the same questions, resampled jointly.")


def _resolution(n: int) -> str:
    return f"1 question = {100 / n:.3g} pts"


def _footer(table: pd.DataFrame, evalsets: list[str], esc: Callable[[str], str], pct: str, dash: str) -> str:
    """The smallest detectable difference per eval set (the range over the compared models)."""
    parts = []
    for e in evalsets:
        values = table.loc[table["evalset"].astype(str) == e, "detectable"].dropna()
        if values.empty:
            text = "n/a"
        else:
            low, high = _num(float(values.min()), "−"), _num(float(values.max()), "−")
            text = (low if low == high else f"{low}{dash}{high}") + " pts"
        parts.append(f"{esc(e)} {text}")
    return (f"Smallest detectable difference (80 {pct} power, 5 {pct} level) per eval set: "
            + ", ".join(parts) + ".")


def _row_cells(model: str, evalsets: list[str], by_key: dict, reference: str, *, empty: str, minus: str) -> list[str]:
    """Accuracy and Δ cells of one model's row (`empty` where there is no number)."""
    cells: list[str] = []
    for e in evalsets:
        r = by_key.get((model, e))
        if r is None:
            cells += [empty, empty]
            continue
        cells.append(_interval(r["accuracy"], r["ci_low"], r["ci_high"], minus))
        cells.append(empty if model == reference else _interval(r["delta"], r["delta_low"], r["delta_high"], minus))
    return cells


def ablation_markdown(table: pd.DataFrame) -> str:
    """The table as Markdown: one row per model, per eval set an accuracy and a difference column."""
    reference, models, evalsets, n, by_key = _cells(table)
    caption = _caption(table, "`{}`", "%", "Δ")
    header = ["model"] + [h for e in evalsets for h in (f"{e} (n={n[e]}, {_resolution(n[e])})", f"Δ {e}")]
    lines = [caption, "", "| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    for model in models:
        cells = [f"{model} (reference)" if model == reference else model]
        cells += _row_cells(model, evalsets, by_key, reference, empty="—", minus="−")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", _footer(table, evalsets, str, "%", "–")]
    return "\n".join(lines) + "\n"


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "[": "{[}", "]": "{]}"}  # a bracket right after \\ would read as its optional argument


def tex_escape(text: str) -> str:
    """`text` with LaTeX's special characters escaped for use in running text."""
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(text))


def ablation_latex(table: pd.DataFrame) -> str:
    """The table as a LaTeX ``table`` with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    reference, models, evalsets, n, by_key = _cells(table)
    caption = _caption(table, "\\texttt{{{}}}", "\\%", "$\\Delta$", tex_escape)
    groups = [f"\\multicolumn{{2}}{{c}}{{{tex_escape(e)} ($n={n[e]}$, {_resolution(n[e])})}}" for e in evalsets]
    lines = ["\\begin{table}[t]", "\\centering", f"\\caption{{{caption}}}", "\\label{tab:ablation}",
             "\\begin{tabular}{l" + "cc" * len(evalsets) + "}", "\\toprule", " & " + " & ".join(groups) + " \\\\",
             " ".join(f"\\cmidrule(lr){{{2 + 2 * i}-{3 + 2 * i}}}" for i in range(len(evalsets))),
             "Model" + " & Acc. [95\\% CI] & $\\Delta$ [95\\% CI]" * len(evalsets) + " \\\\", "\\midrule"]
    for model in models:
        cells = [tex_escape(model) + (" (reference)" if model == reference else "")]
        cells += _row_cells(model, evalsets, by_key, reference, empty="---", minus="$-$")
        lines.append(" & ".join(cells) + " \\\\")
    footer = _footer(table, evalsets, tex_escape, "\\%", "--").replace("−", "$-$")
    lines += ["\\bottomrule", "\\end{tabular}", "\\par\\smallskip", f"{{\\footnotesize {footer}}}",
              "\\end{table}"]
    return "\n".join(lines) + "\n"


def write_ablation(table: pd.DataFrame, *, md: str | os.PathLike, csv: str | os.PathLike,
                   tex: str | os.PathLike) -> None:
    """Write the long table as CSV (full precision) and the Table 2 layout as Markdown and LaTeX."""
    markdown, latex = ablation_markdown(table), ablation_latex(table)
    write_table(table[ABLATION_COLUMNS], csv)
    write_text(markdown, md)
    write_text(latex, tex)
