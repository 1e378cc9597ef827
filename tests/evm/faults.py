"""A loopback JSON-RPC proxy that injects faults between an indexer and a node.

Each request is answered by the next entry of a repeating ``schedule``: ``ok`` (forwarded),
``drop`` (connection closed without an answer), ``stall`` (no answer until after the
client's timeout), ``429``, ``503`` or ``truncate`` (the node's answer cut in half).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from indexers.rpc.transport import Transport


class FaultProxy:
    def __init__(self, upstream: Transport, schedule: Sequence[str], stall_s: float = 1.0) -> None:
        self.upstream = upstream
        self._schedule = itertools.cycle(schedule)
        self.stall_s = stall_s
        self.lock = threading.Lock()
        self.faults: dict[str, int] = {}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with proxy.lock:
                    action = next(proxy._schedule)
                    proxy.faults[action] = proxy.faults.get(action, 0) + 1
                    answer = proxy.upstream.send(body) if action in ("ok", "truncate") else b""
                if action == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if action == "stall":
                    time.sleep(proxy.stall_s)
                    self.close_connection = True
                    return
                if action in ("429", "503"):
                    self.send_response(int(action))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if action == "truncate":
                    answer = answer[: len(answer) // 2]
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"


@contextmanager
def fault_proxy(
    upstream: Transport, schedule: Sequence[str], stall_s: float = 1.0
) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream, schedule, stall_s)
    thread = threading.Thread(target=proxy.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()
