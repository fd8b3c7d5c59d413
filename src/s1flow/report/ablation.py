"""The data-ablation table (the paper's Table 2): accuracy per training subset with paired bootstrap CIs.

Every model (e.g. one per training subset) is compared to a reference model on the same
questions of each eval set at one setting (a model may have its own, e.g. a base model's open
response); the difference gets a paired bootstrap interval.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from s1flow.errors import ConfigError, InputFileError
from s1flow.generate.grading import per_question_correct
from s1flow.io import read_table, require_columns, write_table, write_text
from s1flow.report.bootstrap import paired_bootstrap

ABLATION_COLUMNS = ["model", "evalset", "setting", "reference", "n_questions", "accuracy", "ci_low", "ci_high",
                    "delta", "delta_low", "delta_high", "n_resamples", "seed"]
_INT_COLUMNS = ["n_questions", "n_resamples", "seed"]
_FLOAT_COLUMNS = ["accuracy", "ci_low", "ci_high", "delta", "delta_low", "delta_high"]
_STR_COLUMNS = ["model", "evalset", "setting", "reference"]


def _where(model: str, evalset: str) -> str:
    return f"samples of model '{model}' on eval set '{evalset}'"


def correct_at(samples: pd.DataFrame, setting: str, *, where: str = "samples") -> pd.Series:
    """Per-question correctness (bool, indexed by qid as str) at one setting of a samples table."""
    require_columns(samples, ["setting"], where)
    rows = samples[samples["setting"] == setting]
    if rows.empty:
        have = list(dict.fromkeys(map(str, samples["setting"])))
        raise ConfigError(f"{where}: no rows for setting '{setting}'; the table has settings {have}")
    per_q = per_question_correct(rows, where=where)
    return pd.Series(per_q["correct"].to_numpy(dtype=bool), index=per_q["qid"].astype(str).to_numpy(), name=setting)


def _align(correct: pd.Series, reference: pd.Series, where: str, ref_where: str) -> pd.Series:
    """`correct` reordered to the reference's questions; an error when the two question sets differ."""
    only_here = correct.index.difference(reference.index)
    only_ref = reference.index.difference(correct.index)
    if len(only_here) or len(only_ref):
        raise InputFileError(
            f"{where}: questions differ from the {ref_where}: {len(only_here)} only here "
            f"(e.g. {list(only_here[:3])}), {len(only_ref)} only in the reference (e.g. {list(only_ref[:3])}); "
            f"a paired comparison needs the same questions")
    return correct.reindex(reference.index)


def ablation_table(samples: Mapping[tuple[str, str], pd.DataFrame], *, setting: str, reference: str = "s1k",
                   n_resamples: int = 10_000, seed: int, model_settings: Mapping[str, str] | None = None
                   ) -> pd.DataFrame:
    """Accuracy at `setting` per (model, eval set), with a 95 % CI and the paired difference to `reference`.

    `model_settings` gives models a setting of their own (model -> setting name), e.g. a base
    model evaluated by its own response (``open:cap=B``); every difference is taken against
    the reference at its setting. Keys of `samples` are (model, eval set). Rows follow the
    models in the order given, then the eval sets in the order given; the reference's own row
    has delta 0 with a [0, 0] interval. Columns: :data:`ABLATION_COLUMNS`; accuracies and deltas in percent.
    """
    models = list(dict.fromkeys(m for m, _ in samples))
    evalsets = list(dict.fromkeys(e for _, e in samples))
    if reference not in models:
        raise ConfigError(f"ablation reference model '{reference}' has no samples; models: {models}")
    own = dict(model_settings or {})

    def setting_of(model: str) -> str:
        return own.get(model, setting)

    refs = {}
    for evalset in evalsets:
        if (reference, evalset) not in samples:
            raise ConfigError(f"ablation: the reference model '{reference}' has no samples on eval set '{evalset}'")
        refs[evalset] = correct_at(samples[(reference, evalset)], setting_of(reference),
                                   where=_where(reference, evalset))
    rows = []
    for model in models:
        for evalset in evalsets:
            if (model, evalset) not in samples:
                continue
            where = _where(model, evalset)
            ref = refs[evalset]
            correct = _align(correct_at(samples[(model, evalset)], setting_of(model), where=where), ref, where,
                             f"reference model '{reference}'")
            res = paired_bootstrap(correct.to_numpy(dtype=float), ref.to_numpy(dtype=float),
                                   n_resamples=n_resamples, seed=seed)
            rows.append({"model": model, "evalset": evalset, "setting": setting_of(model), "reference": reference,
                         "n_questions": res.n, "accuracy": res.accuracy, "ci_low": res.low, "ci_high": res.high,
                         "delta": res.delta, "delta_low": res.delta_low, "delta_high": res.delta_high,
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
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
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
    reference = esc(reference)
    return (f"Accuracy ({pct}) at setting {setting} with 95{pct} paired-bootstrap confidence "
            f"intervals ({resamples:,} resamples, seed {seed}); {delta} = accuracy minus the reference model "
            f"{code.format(reference)} on the same questions.")


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
    header = ["model"] + [h for e in evalsets for h in (f"{e} (n={n[e]})", f"Δ {e}")]
    lines = [caption, "", "| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    for model in models:
        cells = [f"{model} (reference)" if model == reference else model]
        cells += _row_cells(model, evalsets, by_key, reference, empty="—", minus="−")
        lines.append("| " + " | ".join(cells) + " |")
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
    lines = ["\\begin{table}[t]", "\\centering", f"\\caption{{{caption}}}", "\\label{tab:ablation}",
             "\\begin{tabular}{l" + "cc" * len(evalsets) + "}", "\\toprule",
             " & " + " & ".join(f"\\multicolumn{{2}}{{c}}{{{tex_escape(e)} ($n={n[e]}$)}}" for e in evalsets) + " \\\\",
             " ".join(f"\\cmidrule(lr){{{2 + 2 * i}-{3 + 2 * i}}}" for i in range(len(evalsets))),
             "Model" + " & Acc. [95\\% CI] & $\\Delta$ [95\\% CI]" * len(evalsets) + " \\\\", "\\midrule"]
    for model in models:
        cells = [tex_escape(model) + (" (reference)" if model == reference else "")]
        cells += _row_cells(model, evalsets, by_key, reference, empty="---", minus="$-$")
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def write_ablation(table: pd.DataFrame, *, md: str | os.PathLike, csv: str | os.PathLike,
                   tex: str | os.PathLike) -> None:
    """Write the long table as CSV (full precision) and the Table 2 layout as Markdown and LaTeX."""
    markdown, latex = ablation_markdown(table), ablation_latex(table)
    write_table(table[ABLATION_COLUMNS], csv)
    write_text(markdown, md)
    write_text(latex, tex)
