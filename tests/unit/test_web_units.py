"""The web page's parts that need no directory: sessions (idle timeout, logout, new id at login), settings."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flask import Flask, session

from schulit.errors import InventoryError, SchulitError
from schulit.inventory import WebSettings, load_inventory
from schulit.web.app import _new_password_problem
from schulit.web.directory import clean_login
from schulit.web.server import parse_listen
from schulit.web.sessions import MemorySessions
from tests.helpers.inventory import write_inventory


def session_app(idle: float) -> Flask:
    app = Flask(__name__)
    app.session_interface = MemorySessions(idle_seconds=idle)

    @app.post("/login")
    def login() -> str:
        session.clear()
        session.rotate = True  # type: ignore[attr-defined]
        session["login"] = "karl"
        return "ok"

    @app.get("/who")
    def who() -> str:
        return session.get("login", "-")

    @app.post("/logout")
    def logout() -> str:
        session.clear()
        return "bye"

    return app


def test_session_ends_after_idling_and_each_request_extends_it() -> None:
    client = session_app(idle=0.5).test_client()
    client.post("/login")
    for _ in range(3):  # active use keeps it alive beyond the idle time
        time.sleep(0.3)
        assert client.get("/who").text == "karl"
    time.sleep(0.7)
    assert client.get("/who").text == "-"


def test_logout_makes_the_old_cookie_worthless_and_login_issues_a_new_id() -> None:
    client = session_app(idle=60).test_client()
    client.get("/who")
    client.post("/login")
    first = client.get_cookie("session").value
    client.post("/login")
    second = client.get_cookie("session").value
    assert first != second
    client.set_cookie("session", first)
    assert client.get("/who").text == "-"  # the id before the new login is gone
    client.set_cookie("session", second)
    assert client.get("/who").text == "karl"
    response = client.post("/logout")
    assert "session=;" in response.headers["Set-Cookie"]
    client.set_cookie("session", second)
    assert client.get("/who").text == "-"


def test_cookie_flags() -> None:
    app = session_app(idle=60)
    header = app.test_client().post("/login").headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" not in header
    assert "Expires" not in header and "Max-Age" not in header
    header = app.test_client().post("/login", base_url="https://schule.example").headers["Set-Cookie"]
    assert "Secure" in header


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Karl.Lueders ", "karl.lueders"), ("", None), ("a*", None), ("a)(uid=*", None), ("x" * 65, None)],
)
def test_clean_login(raw: str, expected: str | None) -> None:
    assert clean_login(raw) == expected


def test_new_password_rules() -> None:
    assert _new_password_problem("lea", "alt12345", "kurz", "kurz") is not None
    assert _new_password_problem("lea.mueller", "alt12345", "LEA.MUELLER", "LEA.MUELLER") is not None
    assert _new_password_problem("lea", "alt12345", "alt12345", "alt12345") is not None
    assert _new_password_problem("lea", "alt12345", "neu123456", "neu123457") is not None
    assert _new_password_problem("lea", "alt12345", "Sommer 2026", "Sommer 2026") is None


def test_plain_http_beyond_loopback_needs_a_configured_proxy() -> None:
    local = WebSettings(bind_dn="cn=web,dc=x")
    assert parse_listen("127.0.0.1:8080", local) == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:8443", local) == ("::1", 8443)
    with pytest.raises(SchulitError, match="TLS reverse proxy"):
        parse_listen("0.0.0.0:8080", local)
    assert parse_listen("0.0.0.0:8080", WebSettings(bind_dn="cn=web,dc=x", trusted_proxy="10.1.2.3"))
    with pytest.raises(SchulitError, match="IP-ADDRESS:PORT"):
        parse_listen("schule.example:80", local)


def test_web_settings_are_validated(tmp_path: Path) -> None:
    root = write_inventory(tmp_path)
    county = root / "county.toml"
    county.write_text(
        county.read_text() + '\n[web]\nbind_dn = "cn=web,dc=lk-test,dc=example"\n'
        'password_file = "web.password"\n'
    )
    web = load_inventory(root).web
    assert web is not None and web.listen == "127.0.0.1:8080" and web.idle_minutes == 30
    assert web.password_file == root / "web.password"
    county.write_text(county.read_text() + 'listen = "8080"\ntrusted_proxy = "proxy"\nidle = 5\n')
    with pytest.raises(InventoryError) as error:
        load_inventory(root)
    text = str(error.value)
    assert "web.listen" in text and "web.trusted_proxy" in text and "web.idle" in text
