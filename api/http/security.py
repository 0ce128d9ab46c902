"""Least disclosure at the edge (DESIGN §13): headers on every answer, throttled wrong
tokens, and a request log that never prints a query string (which may carry a secret)."""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from typing import Callable

from flask import Response

from api.http.problems import Problem

# The JSON API is data: nothing in it runs, embeds or frames anything.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The offline API docs (Swagger UI, served by this app) run their own script and styles.
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
               "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
SERVER = "cobuild"  # no product versions for a scanner to match


def _defaults(policy: str) -> tuple[tuple[str, str, str], ...]:
    # (lower-case name, name, value): set on every answer unless the answer set its own.
    return tuple((name.lower(), name, value) for name, value in (
        ("Content-Security-Policy", policy), ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Resource-Policy", "same-origin")))


_API_DEFAULTS, _DOCS_DEFAULTS = _defaults(API_POLICY), _defaults(DOCS_POLICY)


def security_headers(response: Response, *, secret: bool, docs: bool) -> Response:
    """Set what is not set yet (a page may have chosen its own policy)."""
    headers = response.headers
    # One pass over the few headers the answer has, then one extend: every answer pays
    # for this, and a setdefault per header scans the list each time.
    present = {name.lower() for name in headers.keys()}
    headers.extend([(name, value) for lower, name, value in (_DOCS_DEFAULTS if docs else _API_DEFAULTS)
                    if lower not in present])
    if secret:
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    headers["Server"] = SERVER  # the WSGI server then adds no banner of its own
    return response


class FailedSignIns:
    """Wrong bearer tokens per client address: after ``limit`` within ``window`` seconds
    the address gets 429 with ``Retry-After`` until the oldest failure leaves the window.

    Memory is bounded: at most ``addresses`` addresses are remembered (the least recently
    failing are forgotten first), each with at most ``limit`` failure times.
    """

    def __init__(self, limit: int = 20, window: float = 60.0, addresses: int = 10_000,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.addresses = addresses
        self.now = now
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        with self._lock:
            failures = self._failures.get(client)
            if failures is None:
                return
            now = self.now()
            while failures and now - failures[0] >= self.window:
                failures.popleft()
            if len(failures) >= self.limit:
                wait = max(1, int(self.window - (now - failures[0])) + 1)
                raise Problem(429, "too-many-failed-sign-ins",
                              "too many wrong tokens from this address; try again later",
                              headers={"Retry-After": str(wait)})

    def failed(self, client: str) -> None:
        with self._lock:
            failures = self._failures.pop(client, None) or deque(maxlen=self.limit)
            failures.append(self.now())
            self._failures[client] = failures  # most recent last
            while len(self._failures) > self.addresses:
                self._failures.popitem(last=False)

    def __len__(self) -> int:
        return len(self._failures)


class _NoQueryStrings(logging.Filter):
    """Werkzeug logs ``"GET /path?query HTTP/1.1" 200 -``: keep the path, drop the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args and isinstance(record.args[0], str):
            line = record.args[0]
            method, sep, rest = line.partition(" ")
            target, space, version = rest.partition(" ")
            if "?" in target:
                target = target.split("?", 1)[0] + "?…"
                record.args = (f"{method}{sep}{target}{space}{version}", *record.args[1:])
        return True


_FILTER = _NoQueryStrings()


def redact_request_log() -> None:
    logger = logging.getLogger("werkzeug")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
