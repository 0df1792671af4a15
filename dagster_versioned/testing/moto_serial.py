"""moto's S3 server answering one request at a time (``python -m <this module> -p PORT``).

moto's standalone server is threaded, and its conditional PUT (``If-None-Match: *``) checks
that the key is missing and then stores it as two steps, so two concurrent exclusive creates of
one key can both succeed — which real S3 never allows, and which loses a commit when eight
writers race for one ref-log entry (seen in ``benchmarks.reliability --s3``: 1 of 800 lost;
``--probe-moto`` shows it directly).
Serving requests one at a time makes each request atomic, as on S3, at the cost of speed.
Takes moto.server's own arguments.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto import server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_LOCK = threading.Lock()
_serve = DomainDispatcherApplication.__call__


def _one_at_a_time(
    self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Callable[..., Any]
) -> Iterable[bytes]:
    with _LOCK:  # the body is built inside the lock too: moto stores the object while building it
        return list(_serve(self, environ, start_response))


if __name__ == "__main__":
    DomainDispatcherApplication.__call__ = _one_at_a_time  # type: ignore[method-assign]
    server.main(sys.argv[1:])
