"""Logging set-up shared by the workflow scripts and the CLI.

Tracebacks go to the log file only: the console gets one line per message, so a user sees what
failed and where, and the log (a rule's ``log:``, the CLI's ``--log``) keeps the details.
"""

from __future__ import annotations

import logging
import os
import sys

from s1flow.errors import S1FlowError

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _OneLine(logging.Formatter):
    """A formatter that leaves out tracebacks and stack information."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def _own_or_error(record: logging.LogRecord) -> bool:
    """s1flow's messages, and other libraries' errors (not their warnings, e.g. a hub client's retries)."""
    return record.name.split(".")[0] in ("s1flow", "root", "__main__") or record.levelno >= logging.ERROR


def setup_logging(log_file: str | os.PathLike | None = None, level: int = logging.INFO) -> None:
    """Log to stderr at `level` (one line per message) and, when given, to `log_file` at INFO with tracebacks.

    Below INFO (the command line without ``-v``), the console shows other libraries' messages only
    from ERROR up; the log file keeps them all.
    """
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(level)
    console.setFormatter(_OneLine(FORMAT))
    if level > logging.INFO:
        console.addFilter(_own_or_error)
    handlers: list[logging.Handler] = [console]
    if log_file:
        file_handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
        file_handler.setLevel(logging.INFO)
        file_handler.setFormatter(logging.Formatter(FORMAT))
        handlers.append(file_handler)
    logging.basicConfig(level=min(level, logging.INFO) if log_file else level, handlers=handlers, force=True)


class stage_errors:  # noqa: N801 - used as a context manager, reads like a statement
    """End a workflow stage that failed with one line on stderr, the traceback in its log, and exit status 2."""

    def __enter__(self) -> stage_errors:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        kind = "" if isinstance(exc, S1FlowError | OSError) else f"unexpected {type(exc).__name__}: "
        logging.getLogger("s1flow").error("stage failed: %s%s", kind, exc, exc_info=(exc_type, exc, tb))
        raise SystemExit(2)
