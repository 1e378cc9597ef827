"""How JSON-RPC request bodies reach a node: over HTTP, or to a web3 provider in process.

A transport moves bytes only; :class:`indexers.rpc.client.RpcClient` encodes requests,
decodes answers and decides what to retry. Transient failures are raised as
:class:`TransientError` so the client can tell them from a node's answer.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Protocol

import requests

from indexers.rpc.redact import redact_text, redact_url, url_secrets

__all__ = ["HttpTransport", "ProviderTransport", "TransientError", "Transport"]


class TransientError(Exception):
    """A failure worth retrying: timeout, dropped connection, HTTP 429 or 5xx."""


class Transport(Protocol):
    """Sends one JSON-RPC body and returns the raw answer."""

    label: str
    """Where requests go, safe to print (credentials redacted)."""

    def send(self, body: bytes) -> bytes:
        """Send ``body``; return the response body, or raise :class:`TransientError`."""
        ...


class HttpTransport:
    """JSON-RPC over HTTP(S) with a per-request timeout.

    Parameters
    ----------
    url
        Node URL; may carry an API key, which never appears in :attr:`label` or in errors.
    timeout
        Seconds to wait for connect and for each read; a stalled node raises
        :class:`TransientError`.

    Each thread that sends gets its own keep-alive connection (``requests`` sessions are not
    meant to be shared between threads), so requests sent from a thread pool are in flight
    together.
    """

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self._url = url
        self._secrets = url_secrets(url)
        self.label = redact_url(url)
        self.timeout = timeout
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def _clean(self, exc: BaseException) -> str:
        return redact_text(f"{type(exc).__name__}: {exc}", self._secrets)

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def send(self, body: bytes) -> bytes:
        session = self._session()
        try:
            response = session.post(
                self._url,
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=self.timeout,
            )
            content = response.content
        except requests.RequestException as exc:
            # Drop this thread's connection: a half-closed keep-alive socket would fail again.
            session.close()
            self._local.session = None
            with self._lock:
                if session in self._sessions:
                    self._sessions.remove(session)
            raise TransientError(f"{self.label}: {self._clean(exc)}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(f"{self.label}: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise TransientError(f"{self.label}: HTTP {response.status_code}")
        return content

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()


class ProviderTransport:
    """Requests handed to a web3 instance in the same process (e.g. py-evm through
    ``EthereumTesterProvider``).

    web3's request manager applies the provider's formatters and answers Python values;
    they are encoded back to JSON-RPC's hex form so the client decodes the same bytes as
    over HTTP. ``eth_call`` is sent from the node's first account, because eth-tester charges
    gas to the caller even for calls. The provider runs one request at a time (an in-process
    EVM is not thread-safe), whatever the number of threads sending.
    """

    def __init__(self, w3: Any, *, label: str = "in-process provider") -> None:
        self._w3 = w3
        self.label = label
        self._lock = threading.Lock()
        accounts = w3.eth.accounts
        self._caller = accounts[0] if accounts else None

    def _one(self, request: dict[str, Any]) -> dict[str, Any]:
        method, params = request["method"], list(request["params"])
        if method == "eth_call" and self._caller is not None:
            params[0] = {**params[0], "from": self._caller}
        try:
            result = self._w3.manager.request_blocking(method, params)
        except Exception as exc:  # the provider raises instead of answering an error object
            return {
                "jsonrpc": "2.0",
                "id": request["id"],
                "error": {"code": -32000, "message": f"{type(exc).__name__}: {exc}"},
            }
        return {"jsonrpc": "2.0", "id": request["id"], "result": _rpc_form(result)}

    def send(self, body: bytes) -> bytes:
        request = json.loads(body)
        with self._lock:
            if isinstance(request, list):
                return json.dumps([self._one(r) for r in request]).encode()
            return json.dumps(self._one(request)).encode()


def _rpc_form(value: Any) -> Any:
    """JSON-RPC's wire form of a web3 value: integers and bytes as 0x-hex."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _rpc_form(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rpc_form(v) for v in value]
    raise TypeError(f"cannot encode {type(value).__name__}")
