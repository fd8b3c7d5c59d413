"""Reference files fetched at run time (s1's MSC rubric): download, validate, then write.

The file appears at its path only once it has been downloaded whole and its check passed,
so a failed or refused download never leaves a partial or invalid file behind.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from s1flow.errors import InputFileError
from s1flow.io import write_bytes
from s1flow.judges import parse_rubric

log = logging.getLogger(__name__)

#: larger replies are refused (a reference file is small; this is not a data-set loader)
MAX_BYTES = 16 * 1024 * 1024
USER_AGENT = "s1flow (reference file download)"


def fetch_bytes(url: str, *, timeout: float = 60, max_bytes: int = MAX_BYTES) -> bytes:
    """The body of a GET of `url` (http, https or file); errors name the URL and what went wrong."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://", "file://")):
        raise InputFileError(f"{url!r}: expected an http(s):// or file:// URL")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - scheme checked above
            data = resp.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        raise InputFileError(f"GET {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InputFileError(f"GET {url}: cannot download ({reason}); is the machine online?") from exc
    if len(data) > max_bytes:
        raise InputFileError(f"GET {url}: the reply is larger than {max_bytes} bytes; is this the right URL?")
    return data


def download_file(url: str, out: str | os.PathLike, *, check: Callable[[bytes], object] | None = None,
                  timeout: float = 60) -> Path:
    """Download `url` to `out` atomically; `check(data)` must accept the bytes first (it raises if not).

    Nothing is written at `out` when the download or the check fails.
    """
    data = fetch_bytes(url, timeout=timeout)
    if check is not None:
        check(data)
    out = Path(out)
    write_bytes(data, out)
    log.info("downloaded %s (%d bytes) to %s", url, len(data), out)
    return out


def download_rubric(url: str, out: str | os.PathLike, *, timeout: float = 60) -> Path:
    """Download a domain rubric (s1's ``data/msc.json``) to `out`, validated as :func:`load_rubric` does."""
    entries: list = []

    def check(data: bytes) -> None:
        entries.extend(parse_rubric(data, url))

    path = download_file(url, out, check=check, timeout=timeout)
    log.info("rubric %s: %d entries (codes %s .. %s)", path, len(entries), entries[0].code, entries[-1].code)
    return path
