"""Shared pieces of the hostile-input tests: strategies of bad text, and a store snapshot."""

from __future__ import annotations

import unicodedata
from typing import Any

from hypothesis import strategies as st

from dagster_versioned.store import Store

NASTY = [
    "",
    " ",
    ".",
    "..",
    "../x",
    "a/../../etc/passwd",
    "/abs/path",
    "//double",
    "a\x00b",
    "a\nb",
    "a\\b",
    "é",
    unicodedata.normalize("NFD", "é"),
    "Å",  # U+212B ANGSTROM SIGN, NFC-normalises to U+00C5
    "\uff46\uff55\uff4c\uff4c",  # fullwidth "full"
    "x" * 63,
    "x" * 64,
    "x" * 5000,
    "y" * 256,
    "0123456789abcdef0123456789abcdef",
    "master^",
    "master~2",
    "master.0",
    "master^^~",
    "@",
    ":",
    "a:b:c",
    "a@b@c",
    "-",
    "--help",
    "%s%n",
    "$(touch x)",
    "💥",
    "\ud800",  # a lone surrogate: not encodable
]

nasty_text = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.text(alphabet="./@:^~-_aé\x00\\ ", max_size=20),
    st.lists(st.sampled_from([*NASTY, "a", "b"]), min_size=1, max_size=4).map("/".join),
)
"""Names, refs and paths a user (or an attacker) might type."""

nasty_path = st.one_of(
    nasty_text,
    nasty_text.map(lambda t: "/" + t),
    st.lists(st.sampled_from(["a", "..", ".", "", "é", "\x00", "x" * 300]), max_size=5).map(
        lambda parts: "/" + "/".join(parts)
    ),
)

nasty_size = st.one_of(
    st.sampled_from(["1MB", "1.5 GB", "1.2.3", "9" * 400, "1e9", "-1", "1 XB", "0", ""]),
    st.text(alphabet="0123456789.kKmMgGiIbB -e", max_size=12),
)

nasty_cron = st.one_of(
    st.sampled_from(
        [
            "@daily",
            "@every 1h",
            "@every 0s",
            "@every 99999999999999999999h",
            "@every 2000000000h",
            "@every 1.5.5h",
            "@every",
            "61 * * * *",
            "* * * * * *",
            "*/0 * * * *",
            "0 0 31 2 *",
            "a b c d e",
            "",
            "   ",
        ]
    ),
    st.text(alphabet="0123456789*/-,@ abcdefhmsy", max_size=20),
)


def snapshot(store: Store) -> dict[str, Any]:
    """Everything a user can see: repos, branches with heads and triggers, open commits,
    and every file (with its content hash) in every branch head."""
    out: dict[str, Any] = {}
    for repo in store.list_repo():
        branches = {}
        for b in store.list_branch(repo.name):
            files = (
                sorted((f.path, f.hash) for f in store.walk_file(f"{repo.name}@{b.head}"))
                if b.head
                else []
            )
            branches[b.name] = (b.head, b.seq, b.trigger, files)
        commits = sorted((c.id, c.is_finished) for c in store.list_commit(repo.name))
        out[repo.name] = (repo.description, branches, commits)
    return out
