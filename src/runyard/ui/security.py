"""What keeps the dashboard safe to run: an access token (required off the loopback interface), CSRF
tokens on every state-changing request, and files served only from inside the home.

Access: a request passes with the token as the ``runyard_token`` cookie or an ``Authorization: Bearer``
header; ``?token=T`` (the login link printed at start) sets the cookie and redirects to the same page
without it. CSRF: every page carries the server's CSRF token (a ``<meta>``), sent back by forms as a
``csrf`` field or by htmx as an ``X-CSRF-Token`` header; a POST without it (or from another origin) is refused.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import socket
from urllib.parse import unquote

TOKEN_COOKIE = "runyard_token"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) is only reachable from this machine."""
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def same(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented secret with the expected one."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def file_inside(home: str, relative: str) -> str | None:
    """The real path of ``relative`` inside ``home``, or None when it is not a regular file there:
    absolute paths, ``..`` components (also percent-encoded), NUL bytes and symbolic links leading out
    of the home are refused."""
    variants = [relative]
    for _ in range(3):  # double and triple encodings of ".." are refused too
        decoded = unquote(variants[-1])
        if decoded == variants[-1]:
            break
        variants.append(decoded)
    for text in variants:
        if not text or "\x00" in text or "\\" in text or text.startswith(("/", "~")) or os.path.isabs(text):
            return None
        parts = text.split("/")
        if any(part in ("..", ".") for part in parts) or any(part == "" for part in parts[:-1]):
            return None
    parts = relative.split("/")
    root = os.path.realpath(home)
    real = os.path.realpath(os.path.join(root, *parts))
    if not real.startswith(root.rstrip(os.sep) + os.sep):
        return None
    if not os.path.isfile(real):
        return None
    return real
