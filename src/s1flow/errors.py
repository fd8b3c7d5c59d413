"""Exceptions raised for bad user input (files, columns, config keys)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (a library's message can run to a page)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class S1FlowError(Exception):
    """An input problem the user can fix; the message names the file, column or key."""


class InputFileError(S1FlowError):
    """A file is missing, unreadable, empty, or lacks a required column."""


class ConfigError(S1FlowError):
    """A config key is unknown, missing or of the wrong type."""


class MissingDependencyError(S1FlowError, ImportError):
    """An optional package a configured backend needs is not installed (the message says how to get it)."""
