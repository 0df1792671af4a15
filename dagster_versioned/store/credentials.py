"""Keeping credentials out of messages: storage URLs and storage options name secrets that no
error, log line or Dagster metadata may quote."""

from __future__ import annotations

from typing import Any

_SECRET_OPTION_WORDS = ("secret", "token", "password", "passwd", "credential")


def secret_values(options: Any, name: str = "") -> list[str]:
    """String values of storage options whose names say they are secret, at any depth."""
    if isinstance(options, dict):
        return [v for k, item in options.items() for v in secret_values(item, str(k).lower())]
    if isinstance(options, str) and any(word in name for word in _SECRET_OPTION_WORDS):
        return [options]
    return []


def redact_url(url: str) -> str:
    """Hide credentials in ``scheme://user:secret@host`` URLs before they reach a message.

    The credentials end at the *last* '@' (a secret may hold '@' or '/', as AWS secret keys
    often hold '/'); when in doubt more is hidden, never less.
    """
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or (":" not in userinfo and "/" in userinfo):
        return url
    return f"{scheme}://***@{host}"


def scrub_credentials(text: str, url: str) -> str:
    """``text`` with the credentials of ``url`` hidden, wherever a library quoted them."""
    userinfo = url.partition("://")[2].rpartition("@")[0]
    redacted = redact_url(url)
    text = text.replace(url, redacted)
    return text.replace(userinfo, "***") if userinfo and redacted != url else text
