"""Server-side sessions in memory: the cookie holds only a random id; logout and idle expiry really end it.

A signed cookie session (Flask's default) would stay valid after logout until it expires; here the server
forgets the session, so a copied cookie is worth nothing afterwards. Sessions live in the one ``schulit web``
process (waitress: one process, several threads) and end with it.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

from flask import Flask, Request, Response, request
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

MAX_SESSIONS = 20_000  # anonymous visitors get one too (for the CSRF token); the oldest go first


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """A session's data; ``rotate`` asks for a new id (after login, against session fixation)."""

    def __init__(self, initial: dict[str, Any] | None = None, sid: str | None = None):
        def changed(_self: CallbackDict[str, Any]) -> None:
            self.modified = True

        super().__init__(initial or {}, changed)
        self.sid = sid
        self.new = sid is None
        self.modified = False
        self.rotate = False


class MemorySessions(SessionInterface):
    """Sessions by random id, dropped after ``idle_seconds`` without a request."""

    def __init__(self, idle_seconds: float, secure_always: bool = False):
        self.idle_seconds = idle_seconds
        self.secure_always = secure_always
        self._store: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._swept = time.monotonic()

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = request.cookies.get(self.get_cookie_name(app))
        now = time.monotonic()
        with self._lock:
            if now - self._swept > 60:
                self._sweep(now)
            entry = self._store.get(sid) if sid else None
            if entry is not None and now - entry[0] <= self.idle_seconds:
                return ServerSession(dict(entry[1]), sid)
            if entry is not None:
                del self._store[sid]  # type: ignore[arg-type]
        return ServerSession()

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)
        name = self.get_cookie_name(app)
        path = self.get_cookie_path(app)
        with self._lock:
            if session.sid is not None and (session.rotate or not session):
                self._store.pop(session.sid, None)
                if not session:
                    response.delete_cookie(name, path=path, httponly=True, samesite="Lax")
                    return
                session.sid = None
            if not session:
                return
            if session.sid is None:
                session.sid = secrets.token_urlsafe(32)
            self._store[session.sid] = (time.monotonic(), dict(session))  # every request refreshes it
            if len(self._store) > MAX_SESSIONS:
                self._drop_oldest()
        response.vary.add("Cookie")
        response.set_cookie(  # no Expires: the browser forgets it when it closes; the server after idling
            name,
            session.sid,
            path=path,
            httponly=True,
            secure=self.secure_always or request.is_secure,
            samesite="Lax",
        )

    def _sweep(self, now: float) -> None:
        for sid in [s for s, (seen, _) in self._store.items() if now - seen > self.idle_seconds]:
            del self._store[sid]
        self._swept = now

    def _drop_oldest(self) -> None:
        self._sweep(time.monotonic())
        while len(self._store) > MAX_SESSIONS:
            del self._store[min(self._store, key=lambda s: self._store[s][0])]
