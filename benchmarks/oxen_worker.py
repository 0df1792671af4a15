"""Run ``oxen init`` or ``oxen add`` + ``oxen commit`` on ``DIR/data``; print the seconds (JSON).

``python benchmarks/oxen_worker.py init|commit DIR``: a subprocess per operation, like the git
and DVC commands, but timed inside, so the interpreter's start is not counted against Oxen.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time


def main(action: str, work: str) -> None:
    import oxen

    with contextlib.redirect_stdout(io.StringIO()):
        oxen.user.config_user("bench", "bench@example.com")
        start = time.perf_counter()
        repo = oxen.Repo(work)
        if action == "init":
            repo.init()
        else:
            repo.add(f"{work}/data")
            repo.commit("bench")
        elapsed = time.perf_counter() - start
    print(json.dumps({"seconds": elapsed}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
