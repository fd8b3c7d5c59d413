"""Logging set-up shared by the workflow scripts and the CLI."""

from __future__ import annotations

import logging
import os
import sys


def setup_logging(log_file: str | os.PathLike | None = None, level: int = logging.INFO) -> None:
    """Log to stderr and, when given, to `log_file` (a rule's ``log:``)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, mode="w", encoding="utf-8"))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=handlers, force=True)


class stage_errors:  # noqa: N801 - used as a context manager, reads like a statement
    """Log an exception (with traceback) to the stage's log before it propagates."""

    def __enter__(self) -> stage_errors:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is not None:
            logging.getLogger("s1flow").error("stage failed: %s", exc, exc_info=(exc_type, exc, tb))
        return False
