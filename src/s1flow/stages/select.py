"""The selection rules (workflow/rules/select.smk): each subset, and the funnel report.

Each function reads its input files (validating columns), calls the library functions and
writes its outputs atomically, so a failed stage leaves no output that looks complete.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from s1flow.curate.features import validate_features
from s1flow.curate.select import SelectionSettings, funnel, select_subset
from s1flow.io import FORMATS, check_output, read_table, require_unique, write_json, write_table

log = logging.getLogger(__name__)
PathLike = str | os.PathLike


def read_features(path: PathLike) -> pd.DataFrame:
    """Read and validate a feature table."""
    df = read_table(path)
    validate_features(df, str(path))
    return df


def run_select(features_file: PathLike, subset: str, settings: SelectionSettings, out: PathLike,
               details_out: PathLike | None = None) -> pd.DataFrame:
    """Write one subset (the suffix of `out` sets its format) and, when asked, the details the funnel reports."""
    check_output(out, inputs=[features_file], formats=FORMATS)
    if details_out:
        check_output(details_out, inputs=[features_file, out], formats=("json",))
    features = read_features(features_file)
    chosen, details = select_subset(features, subset, settings)  # type: ignore[arg-type]
    if "short_by" in details:
        log.warning("subset %s: %d questions requested (selection.size / --size), only %d survive the filters; "
                    "the funnel (results/subsets/funnel.json) shows where they go", subset, details["requested"],
                    len(chosen))
    require_unique(chosen, "qhash", str(out))
    if details_out:
        write_json(details, details_out)
    write_table(chosen, out)
    log.info("subset %s: %d rows, %d domains", subset, len(chosen), chosen["domain"].nunique())
    return chosen


def run_funnel(features_file: PathLike, subsets: Mapping[str, PathLike], details: Mapping[str, PathLike],
               settings: SelectionSettings, out: PathLike) -> dict:
    """Write funnel.json from the feature table and the written subsets."""
    features = read_features(features_file)
    tables = {name: read_table(p, allow_empty=True) for name, p in subsets.items()}
    info = {name: json.loads(Path(p).read_text(encoding="utf-8")) for name, p in details.items()}
    result = funnel(features, tables, settings, info)
    write_json(result, out)
    return result
