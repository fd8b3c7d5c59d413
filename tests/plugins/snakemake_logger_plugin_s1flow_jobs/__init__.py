"""A Snakemake logger plugin for the tests: every job a run plans, as one JSON object per line.

Snakemake's logger-plugin interface hands each job's description (rule, wildcards, input,
output, resources, threads) to the plugin as structured data, so tests of the DAG read that
instead of the console text. Enabled with ``--logger s1flow-jobs``; the file is the
environment variable ``S1FLOW_JOB_LOG``.
"""

from __future__ import annotations

import json
import os
from logging import LogRecord

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent


def _plain(value):
    """A JSON-able copy of a Snakemake value (named lists, Resources, wildcards)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    return str(value)


class LogHandler(LogHandlerBase):
    """Appends each planned job (event JOB_INFO) to the file named by S1FLOW_JOB_LOG."""

    def __post_init__(self) -> None:
        self.path = os.environ["S1FLOW_JOB_LOG"]
        self.baseFilename = self.path  # where Snakemake reports the log file

    def emit(self, record: LogRecord) -> None:
        if getattr(record, "event", None) != LogEvent.JOB_INFO:
            return
        job = {key: _plain(getattr(record, key, None))
               for key in ("jobid", "rule_name", "wildcards", "input", "output", "resources", "threads")}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(job) + "\n")

    @property
    def writes_to_stream(self) -> bool:
        return False

    @property
    def writes_to_file(self) -> bool:
        return True

    @property
    def has_filter(self) -> bool:
        return False

    @property
    def has_formatter(self) -> bool:
        return False

    @property
    def needs_rulegraph(self) -> bool:
        return False
