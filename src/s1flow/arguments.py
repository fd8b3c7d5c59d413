"""Command-line argument types checked by the config schema: an argument and its config key accept
the same values (one valid range per quantity, stated in ``config/schema.yaml``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from s1flow.config.loading import check_value
from s1flow.errors import ConfigError


def _number(text: str, cast: Callable[[str], Any]) -> Any:
    """`text` as an int or float (an argparse error for anything else)."""
    try:
        return cast(text.strip())
    except ValueError:
        kind = "an integer" if cast is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None


def cap(text: str) -> int | str:
    """A thinking cap: 'auto' or an integer."""
    if text.strip() == "auto":
        return "auto"
    try:
        return int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'auto', got {text!r}") from None


def _parsed(text: str, cast: Callable[[str], Any]) -> Any:
    return _number(text, cast) if cast in (int, float) else cast(text)


def _checked(key: str, value: Any, *, item: bool = False) -> Any:
    try:
        return check_value(key, value, item=item)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def schema_arg(key: str, cast: Callable[[str], Any] = int) -> Callable[[str], Any]:
    """An argparse type for the config key `key`: parsed by `cast`, checked by the schema's rule for it."""
    def parse(text: str) -> Any:
        return _checked(key, _parsed(text, cast))

    parse.__name__ = key
    return parse


def schema_list_arg(key: str, cast: Callable[[str], Any] = int) -> Callable[[str], tuple]:
    """An argparse type for a comma-separated value of the config list `key` (each item checked)."""
    def parse(text: str) -> tuple:
        parts = text.split(",")
        if not all(p.strip() for p in parts):
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
        values = [_checked(key, _parsed(p, cast), item=True) for p in parts]
        return tuple(_checked(key, values))

    parse.__name__ = key
    return parse


def positive_int(text: str) -> int:
    """An argparse type for a count the config does not hold (a batch size, a question limit): >= 1."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    if value >= 2**63:
        raise argparse.ArgumentTypeError(f"expected an integer below 2**63, got {value}")
    return value
