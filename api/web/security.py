"""What keeps the pages safe: the session key, the cookie, CSRF tokens, throttled sign-ins,
and the security headers.  Hand-written because each part is a few lines here: Flask's own
signed cookie carries the session (no server-side store to run), and a per-session CSRF token
compared in constant time does what flask-wtf's would without bringing WTForms to pages that
already validate through the engine.
"""
from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from flask import Flask, Request, Response, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

SECRET_FILE = "web-secret-key"
CSRF_FIELD = "csrf_token"
SESSION_COOKIE = "cobuild_session"


def secret_key(home: Path) -> bytes:
    """The key that signs session cookies: made once per data folder, readable by its owner
    only (like the event store beside it), and never printed.  Every process serving the
    same data folder reads the same key, so a session works whichever one answers."""
    path = home / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    fresh = home / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    try:
        os.link(fresh, path)  # atomic and refuses to replace: the first process's key wins
    except FileExistsError:
        pass
    finally:
        fresh.unlink()
    return bytes.fromhex(path.read_text().strip())


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure whenever the page was asked for over HTTPS (the
    same install may answer on plain HTTP on loopback and behind a TLS proxy)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # The JSON API authenticates by bearer token and never reads the cookie: its
        # requests get no session to unsign on the way in (nor to sign on the way out).
        if request.path == "/api" or request.path.startswith("/api/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(req: Request) -> bool:
    expected = session.get("csrf")
    sent = req.form.get(CSRF_FIELD, "")
    if not expected:
        return False
    return hmac.compare_digest(str(expected).encode(), sent.encode())


@dataclass
class Throttle:
    """Failed attempts per key in a sliding window; past ``limit`` the key is refused until
    the oldest failure leaves the window.  In memory: each ``cobuild serve`` (or gunicorn
    worker) counts its own, which bounds guessing per process; enough for the embedded
    install, and a shared counter can replace it behind the same three methods."""

    limit: int = 5
    window: float = 15 * 60
    now: Callable[[], float] = time.monotonic
    max_keys: int = 100_000
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, key: str) -> deque[float]:
        stamps = self._failures.get(key)
        if stamps is None:
            return deque()
        cutoff = self.now() - self.window
        while stamps and stamps[0] <= cutoff:
            stamps.popleft()
        if not stamps:
            del self._failures[key]
        return stamps

    def retry_after(self, key: str) -> int:
        """Seconds until ``key`` may try again; 0 when it may now."""
        with self._lock:
            stamps = self._recent(key)
            if len(stamps) < self.limit:
                return 0
            return max(1, int(stamps[0] + self.window - self.now()) + 1)

    def failed(self, key: str) -> None:
        with self._lock:
            if len(self._failures) >= self.max_keys:
                for old in list(self._failures)[: self.max_keys // 10]:
                    self._recent(old)  # drops the keys whose failures all left the window
            self._recent(key)
            self._failures.setdefault(key, deque()).append(self.now())

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


# No script or style from anywhere but this server, no inline script, no framing.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; object-src 'none'")


def secure_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        # Pages are per person (and some show a code once): no cache keeps a copy.
        response.headers["Cache-Control"] = "no-store"
    return response
