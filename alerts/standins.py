"""What every local stand-in of an outside service shares: a threaded HTTP server on
127.0.0.1, started in a thread or served in the foreground, stopped cleanly, and a
queue of faults to inject. Each service's own stand-in (its wire format, its
answers) lives beside its client, in that service's package.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Protocol, Self, TypeVar


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that gave up on a slow answer is expected here


class CountedFault(Protocol):
    times: int  # how many more requests meet this fault


FaultT = TypeVar("FaultT", bound=CountedFault)


class Standin(Generic[FaultT]):
    """A stand-in's server: `with Standin(...) as s:` serves it from a thread until the end."""

    def __init__(
        self,
        port: int,
        handler: type[BaseHTTPRequestHandler],
        server_class: type[StandinServer] = StandinServer,
    ) -> None:
        self._faults: list[FaultT] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._serving = threading.Event()
        self._server = server_class(("127.0.0.1", port), handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL a client is given (the service's own setting)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._serving.set()
        self._server.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        self._stopping.set()
        if self._serving.is_set():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, *faults: FaultT) -> None:
        """Faults for the next requests to meet, in order."""
        with self._lock:
            self._faults.extend(faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _next_fault(self) -> FaultT | None:
        """The fault the request being handled meets, if any (each counts down its times)."""
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.times -= 1
            if fault.times <= 0:
                self._faults.pop(0)
            return fault
