"""Keep API keys out of anything printed or raised.

Node providers put the key in the URL: in the path (``/v3/<key>``, ``/v2/<key>``), in the
query string (``?apikey=<key>``) or as user information (``https://user:key@host``). A
redacted URL keeps scheme, host and port so a message still says which node failed.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["REDACTED", "redact_text", "redact_url", "url_secrets"]

REDACTED = "***"

# A path segment this long made of key characters is treated as a credential; real RPC paths
# ("/rpc", "/v3", "/eth/mainnet") are short words.
_KEY_SEGMENT = re.compile(r"^[A-Za-z0-9_\-=.~]{16,}$")


def url_secrets(url: str) -> list[str]:
    """The parts of ``url`` that may be credentials, longest first (never empty strings)."""
    parts = urlsplit(url)
    found: list[str] = []
    if parts.password:
        found.append(parts.password)
    if parts.username:
        found.append(parts.username)
    found.extend(s for s in parts.path.split("/") if _KEY_SEGMENT.match(s))
    for pair in parts.query.split("&"):
        _, _, value = pair.partition("=")
        if value:
            found.append(value)
    if parts.fragment:
        found.append(parts.fragment)
    return sorted({s for s in found if s}, key=len, reverse=True)


def redact_url(url: str) -> str:
    """``url`` with credentials replaced by ``***``.

    >>> redact_url("https://eth-mainnet.example.org/v2/AbCdEf0123456789AbCdEf")
    'https://eth-mainnet.example.org/v2/***'
    >>> redact_url("https://user:pass@node.example.org:8545/rpc?apikey=s3cr3t")
    'https://***:***@node.example.org:8545/rpc?apikey=***'
    >>> redact_url("http://127.0.0.1:8545")
    'http://127.0.0.1:8545'
    """
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    if parts.username or parts.password:
        netloc = f"{REDACTED}:{REDACTED}@{netloc}"
    path = "/".join(REDACTED if _KEY_SEGMENT.match(s) else s for s in parts.path.split("/"))
    query = "&".join(
        f"{k}={REDACTED}" if sep else k
        for k, sep, _ in (p.partition("=") for p in parts.query.split("&") if p)
    )
    fragment = REDACTED if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, path, query, fragment))


def redact_text(text: str, secrets: list[str]) -> str:
    """``text`` with every occurrence of each secret replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text
