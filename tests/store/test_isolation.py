"""The store is usable with Dagster, click and rich absent: the CLI and tools stay light."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys

    BLOCKED = ("dagster", "click", "rich")

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Block())

    try:
        import dagster  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("the import blocker does not work")

    from dagster_versioned.store import Store

    store = Store.open("memory://isolation")
    store.create_repo("images")
    with store.commit("images@master") as c:
        c.put_file("/a.txt", b"hello")
    store.create_branch("images@staging", head="images@master")
    assert store.get_file("images@staging:/a.txt") == b"hello"
    assert [f.path for f in store.glob_file("images@master:/*")] == ["/a.txt"]
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not loaded, loaded
    print("ok")
    """
)


def test_store_imports_and_works_with_dagster_click_and_rich_blocked():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
