"""The teachers' web page in a real browser (Playwright driving Debian's chromium) against `schulit web`
started on loopback, with a real slapd whose ACLs give the web identity only what it needs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest

from tests.helpers.web import BASE_DN, WEB_DN, WebCounty, WebServer, binds, web_slapd

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
GENERIC_ERROR = "Anmeldung nicht möglich. Bitte Benutzername und Passwort prüfen."
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
]
PUPILS = {
    "gs-a": [
        ("1001", "Müller", "Lea", "5a"),
        ("1002", "Öztürk", "Emre", "5a"),
        ("1003", "Nguyễn", "Ngọc", "5a"),
        ("1006", "Weiß", "Paula", "5a"),
        ("1007", "Dąbrowski", "Jan", "5a"),
        ("1004", "Kowalski", "Zofia", "5b"),
        ("1005", "Schäfer", "Jonas", "5b"),
    ],
    "gs-b": [("2001", "Yılmaz", "Elif", "5a")],
}
TEACHERS = {
    "gs-a": [
        ("P1", "Lüders", "Karl", "5a"),
        ("P2", "Brandt", "Ute", "5b"),
        ("P3", "Throttle", "Thea", "5b"),
        ("P4", "Gesperrt", "Gerd", "5a"),
    ],
    "gs-b": [("P1", "Lüders", "Karl", ""), ("P5", "Berg", "Bea", "5a")],
}


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebCounty]:
    if shutil.which("slapd") is None and not Path("/usr/sbin/slapd").exists():
        pytest.fail("slapd is not installed: run scripts/install-system-deps.sh")
    slapd = web_slapd(tmp_path_factory.mktemp("slapd"))
    try:
        county = WebCounty(tmp_path_factory.mktemp("county"), slapd, PUPILS, TEACHERS)
        county.sync()
        county.create_web_identity()
        yield county
    finally:
        slapd.stop(kill=True)


@pytest.fixture(scope="module")
def web(county: WebCounty) -> Iterator[WebServer]:
    server = county.start_web()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator[object]:
    with playwright_api.sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="module")
def browser(playwright: object) -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run scripts/install-system-deps.sh")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(
        accept_downloads=True, locale="de-DE", viewport={"width": 1024, "height": 900}
    )
    page = context.new_page()
    yield page
    context.close()


def log_in(page: object, web: WebServer, login: str, password: str) -> None:
    page.goto(web.url + "/")
    page.get_by_label("Benutzername").fill(login)
    page.get_by_label("Passwort").fill(password)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_load_state()


def slips(pdf: Path) -> dict[str, str]:
    """login -> password as printed on the slips (pdftotext; the password is printed in groups of 4)."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True)
    logins = re.findall(r"Benutzername:\s+(\S+)", text.stdout)
    passwords = [p.replace(" ", "") for p in re.findall(r"Passwort:\s+((?:\S{1,4} ?)+)", text.stdout)]
    assert len(logins) == len(passwords), text.stdout
    return dict(zip(logins, passwords, strict=True))


def audit_lines(county: WebCounty) -> list[dict[str, object]]:
    path = county.root / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def csrf_token(page: object) -> str:
    return page.locator("input[name=csrf_token]").first.get_attribute("value")


def test_teacher_resets_two_pupils_and_gets_their_slips(
    county: WebCounty, web: WebServer, page: object, tmp_path: Path
) -> None:
    initial = county.passwords()
    deliveries = sorted((county.root / "passwords").rglob("*.csv"))
    shots = os.environ.get("SCHULIT_SCREENSHOTS")  # a folder (docs/) for the README's pictures
    if shots:
        page.goto(web.url + "/")
        page.get_by_label("Benutzername").fill("karl.lueders")
        page.screenshot(path=str(Path(shots) / "web-login.png"), full_page=True)
    log_in(page, web, "karl.lueders", initial["karl.lueders"])
    assert page.get_by_role("heading", name="Meine Klassen").is_visible()
    headings = page.locator("h2").all_inner_texts()
    assert headings == ["Klasse 5a Grundschule GS-A"]  # not 5b, not gs-b's 5a although Karl works there too
    class_form = page.locator("section", has_text="Klasse 5a")
    assert class_form.locator("td.login").all_inner_texts() == [
        "jan.dabrowski",
        "lea.mueller",
        "ngoc.nguyen",
        "emre.oeztuerk",
        "paula.weiss",
    ]
    if shots:
        page.get_by_label("Nguyễn, Ngọc").check()
        page.screenshot(path=str(Path(shots) / "web-classes.png"), full_page=True)
        page.get_by_label("Nguyễn, Ngọc").uncheck()
    page.get_by_label("Müller, Lea").check()
    page.get_by_label("Öztürk, Emre").check()
    with page.expect_download() as download_info:
        class_form.get_by_role("button", name="Passwort zurücksetzen").click()
    download = download_info.value
    assert download.suggested_filename == "Zugangsdaten-gs-a-5a.pdf"
    pdf = tmp_path / "slips.pdf"
    download.save_as(pdf)
    printed = slips(pdf)
    assert sorted(printed) == ["emre.oeztuerk", "lea.mueller"]
    for login, password in printed.items():
        dn = county.dn(login)
        assert binds(county.slapd, dn, password, tmp_path), login
        assert not binds(county.slapd, dn, initial[login], tmp_path), login
    assert binds(county.slapd, county.dn("ngoc.nguyen"), initial["ngoc.nguyen"], tmp_path)  # not selected
    resets = [line for line in audit_lines(county) if line["actor"].endswith("(web reset-password)")]
    assert [(line["actor"], line["dn"], line["attributes"]) for line in resets] == [
        ("karl.lueders from 127.0.0.1 (web reset-password)", county.dn(login), ["userPassword"])
        for login in ("emre.oeztuerk", "lea.mueller")
    ]
    # the new passwords exist in clear only in the response: in no file of the county, not in the log
    assert sorted((county.root / "passwords").rglob("*.csv")) == deliveries
    for path in county.root.rglob("*"):
        if path.is_file():
            assert not any(p.encode() in path.read_bytes() for p in printed.values()), path


def test_forged_requests_get_403_and_change_nothing(county: WebCounty, web: WebServer, page: object) -> None:
    log_in(page, web, "karl.lueders", county.passwords()["karl.lueders"])
    token = csrf_token(page)
    before = county.dump()
    forged = [
        {"schule": "gs-a", "klasse": "5a", "umfang": "auswahl", "login": "zofia.kowalski"},  # a 5b pupil
        {"schule": "gs-a", "klasse": "5a", "umfang": "auswahl", "login": "ute.brandt"},  # a teacher
        {"schule": "gs-a", "klasse": "5a", "umfang": "auswahl", "login": "elif.yilmaz"},  # gs-b's pupil
        {"schule": "gs-a", "klasse": "5b", "umfang": "klasse"},  # a class Karl does not teach
        {"schule": "gs-b", "klasse": "5a", "umfang": "klasse"},  # his other school's class, not his
        {"schule": "gs-a", "klasse": "5a", "umfang": "auswahl", "login": "paula.weiss,ngoc.nguyen"},
    ]
    for form in forged:
        response = page.request.post(web.url + "/zuruecksetzen", form={**form, "csrf_token": token})
        assert response.status == 403, (form, response.status)
        assert "Es wurde nichts geändert" in response.text()
    # one good login among the forged ones: the whole request is refused
    response = page.request.post(
        web.url + "/zuruecksetzen",
        multipart={
            "csrf_token": token,
            "schule": "gs-a",
            "klasse": "5a",
            "umfang": "auswahl",
            "login": "paula.weiss",
        },
    )
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    county.passwords()  # (unchanged: the web writes no delivery files)
    after = county.dump()
    changed = [dn for (dn, attrs), (_, old) in zip(after, before, strict=True) if attrs != old]
    assert changed == [county.dn("paula.weiss")]  # only the one legitimate reset
    # without the CSRF token: refused, nothing changed
    before = county.dump()
    response = page.request.post(
        web.url + "/zuruecksetzen", form={"schule": "gs-a", "klasse": "5a", "umfang": "klasse"}
    )
    assert response.status == 400
    response = page.request.post(
        web.url + "/zuruecksetzen",
        form={"schule": "gs-a", "klasse": "5a", "umfang": "klasse", "csrf_token": "forged" + token[6:]},
    )
    assert response.status == 400
    assert county.dump() == before
    refused = "refused: karl.lueders from 127.0.0.1 asked to reset gs-a/5a: zofia.kowalski"
    assert refused in web.log.read_text()


def test_twenty_wrong_passwords_are_throttled(county: WebCounty, web: WebServer, page: object) -> None:
    statuses = []
    page.goto(web.url + "/")
    token = csrf_token(page)
    for attempt in range(20):
        response = page.request.post(
            web.url + "/",
            form={"username": "thea.throttle", "password": f"falsch{attempt}", "csrf_token": token},
        )
        statuses.append(response.status)
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429] * 10
    # now even the right password is refused for this login (a guesser learns nothing)
    response = page.request.post(
        web.url + "/",
        form={
            "username": "THEA.throttle ",
            "password": county.passwords()["thea.throttle"],
            "csrf_token": token,
        },
    )
    assert response.status == 429 and "Zu viele" in response.text()
    page.goto(web.url + "/klassen")
    assert page.get_by_role("heading", name="Anmeldung für Lehrkräfte").is_visible()


def test_pupil_login_gets_no_class_page(county: WebCounty, web: WebServer, page: object) -> None:
    log_in(page, web, "jonas.schaefer", county.passwords()["jonas.schaefer"])
    assert (
        page.locator(".error").inner_text()
        == "Anmeldung nicht möglich. Bitte Benutzername und Passwort prüfen."
    )
    page.goto(web.url + "/klassen")
    assert page.get_by_role("heading", name="Anmeldung für Lehrkräfte").is_visible()
    response = page.request.post(
        web.url + "/zuruecksetzen",
        form={"csrf_token": csrf_token(page), "schule": "gs-a", "klasse": "5b", "umfang": "klasse"},
    )
    assert response.status == 403


def test_empty_password_never_logs_in_although_the_directory_allows_it(
    county: WebCounty, web: WebServer, page: object, tmp_path: Path
) -> None:
    dn = county.dn("ute.brandt")
    whoami = subprocess.run(
        ["ldapwhoami", "-x", "-H", county.slapd.url, "-D", dn, "-w", ""], capture_output=True, text=True
    )
    assert whoami.returncode == 0 and whoami.stdout.strip() == "anonymous"  # an unauthenticated bind "works"
    page.goto(web.url + "/")
    token = csrf_token(page)
    response = page.request.post(
        web.url + "/", form={"username": "ute.brandt", "password": "", "csrf_token": token}
    )
    assert response.status == 401 and GENERIC_ERROR in response.text()
    for username in ("", "   ", "ute.brandt)(uid=*", "*", "x" * 65):
        response = page.request.post(
            web.url + "/", form={"username": username, "password": "irgendwas", "csrf_token": token}
        )
        assert response.status == 401 and GENERIC_ERROR in response.text()
    page.goto(web.url + "/klassen")
    assert page.get_by_role("heading", name="Anmeldung für Lehrkräfte").is_visible()


def test_locked_teacher_loses_the_session_and_logout_ends_it(
    county: WebCounty, web: WebServer, page: object
) -> None:
    log_in(page, web, "gerd.gesperrt", county.passwords()["gerd.gesperrt"])
    assert page.get_by_role("heading", name="Meine Klassen").is_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "schulit_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # plain loopback
    assert cookie["expires"] == -1  # a session cookie; the server ends it after 30 idle minutes
    county.run("accounts", "lock", "gerd.gesperrt")
    page.goto(web.url + "/klassen")
    assert page.get_by_role("heading", name="Anmeldung für Lehrkräfte").is_visible()
    log_in(page, web, "gerd.gesperrt", county.passwords()["gerd.gesperrt"])  # locked: no new session
    assert page.locator(".error").inner_text() == GENERIC_ERROR
    county.run("accounts", "unlock", "gerd.gesperrt")
    # logout: the old cookie is worth nothing afterwards
    log_in(page, web, "gerd.gesperrt", county.passwords()["gerd.gesperrt"])
    old = next(c for c in page.context.cookies() if c["name"] == "schulit_session")
    assert old["value"] != cookie["value"]  # a new session id at every login
    page.get_by_role("button", name="Abmelden").click()
    assert page.get_by_text("Sie sind abgemeldet.").is_visible()
    page.context.add_cookies([old])
    page.goto(web.url + "/klassen")
    assert page.get_by_role("heading", name="Anmeldung für Lehrkräfte").is_visible()


def test_pupil_changes_own_password_in_the_browser(
    county: WebCounty, web: WebServer, page: object, tmp_path: Path
) -> None:
    old = county.passwords()["zofia.kowalski"]
    dn = county.dn("zofia.kowalski")

    def change(login: str, current: str, new: str, repeated: str) -> None:
        page.goto(web.url + "/")
        page.get_by_role("link", name="eigenes Passwort ändern").click()
        page.get_by_label("Benutzername").fill(login)
        page.get_by_label("Bisheriges Passwort").fill(current)
        page.get_by_label("Neues Passwort", exact=True).fill(new)
        page.get_by_label("Neues Passwort wiederholen").fill(repeated)
        page.get_by_role("button", name="Passwort ändern").click()
        page.wait_for_load_state()

    refused = [
        ("zofia.kowalski", old, "Sonne2026!", "Sonne2026?", "stimmen nicht überein"),
        ("zofia.kowalski", old, "Zofia.Kowalski", "Zofia.Kowalski", "nicht der Benutzername"),
        ("zofia.kowalski", old, old, old, "vom bisherigen unterscheiden"),
        ("zofia.kowalski", "falsch-falsch", "Sonne2026!", "Sonne2026!", "bisheriges Passwort prüfen"),
        ("ute.brandt", county.passwords()["ute.brandt"], "Sonne2026!", "Sonne2026!", "bisheriges Passwort"),
    ]
    before = county.dump()
    for login, current, new, repeated, message in refused:
        page.goto(web.url + "/passwort")
        token = csrf_token(page)
        response = page.request.post(
            web.url + "/passwort",
            form={
                "username": login,
                "old_password": current,
                "new_password": new,
                "new_password2": repeated,
                "csrf_token": token,
            },
        )
        assert response.status in (400, 401) and message in response.text(), (login, new)
    assert county.dump() == before
    change("zofia.kowalski", old, "Sommerferien 2026", "Sommerferien 2026")
    assert page.get_by_role("heading", name="Passwort geändert").is_visible()
    assert binds(county.slapd, dn, "Sommerferien 2026", tmp_path)
    assert not binds(county.slapd, dn, old, tmp_path)
    assert audit_lines(county)[-1]["actor"] == "zofia.kowalski from 127.0.0.1 (web change-password)"


def test_web_identity_may_write_pupils_passwords_and_nothing_else(county: WebCounty) -> None:
    web_password = county.web_password_file.read_text()
    server = ldap3.Server(county.slapd.url)
    pupil, teacher = county.dn("jan.dabrowski"), county.dn("bea.berg")
    before = county.dump()
    with ldap3.Connection(server, WEB_DN, web_password, auto_bind=True) as connection:
        refused = [
            (teacher, {"userPassword": [(ldap3.MODIFY_REPLACE, ["{SSHA}x"])]}),
            (pupil, {"sn": [(ldap3.MODIFY_REPLACE, ["Fremd"])]}),
            (pupil, {"employeeType": [(ldap3.MODIFY_REPLACE, ["teacher"])]}),
            (
                f"cn=gs-a-5a,ou=groups,ou=gs-a,ou=schools,{BASE_DN}",
                {"memberUid": [(ldap3.MODIFY_ADD, ["mallory"])]},
            ),
            (WEB_DN.replace("schulit-web", "x"), {"cn": [(ldap3.MODIFY_ADD, ["y"])]}),
        ]
        for dn, modification in refused:
            assert not connection.modify(dn, modification), dn
            assert connection.result["description"] in ("insufficientAccessRights", "noSuchObject"), dn
        assert not connection.add(
            f"uid=mallory,ou=pupils,ou=gs-a,ou=schools,{BASE_DN}", ["account"], {"uid": "mallory"}
        )
        assert not connection.delete(pupil)
        connection.search(BASE_DN, "(objectClass=posixAccount)", attributes=["uid", "userPassword"])
        assert len(connection.entries) >= 10  # reads accounts (who is who) ...
        assert all(not entry.entry_attributes_as_dict.get("userPassword") for entry in connection.entries)
    assert county.dump() == before  # ... and changed nothing
    with ldap3.Connection(server, WEB_DN, web_password, auto_bind=True) as connection:
        assert connection.modify(pupil, {"userPassword": [(ldap3.MODIFY_REPLACE, ["{SSHA}x"])]})
    with ldap3.Connection(server, auto_bind=True) as anonymous:
        anonymous.search(BASE_DN, "(uid=*)", attributes=["uid"])
        assert anonymous.entries == []


def test_behind_a_tls_proxy_cookies_are_secure_and_limits_count_per_address(
    county: WebCounty, playwright: object, tmp_path: Path
) -> None:
    root = tmp_path / "proxied"
    shutil.copytree(county.root, root, ignore=shutil.ignore_patterns("*.log"))
    text = (root / "county.toml").read_text().replace(str(county.root), str(root))
    text += 'trusted_proxy = "127.0.0.1"\nfailures_per_login = 3\nfailures_per_address = 5\n'
    (root / "county.toml").write_text(text)
    server = WebServer.start(root)
    try:
        request = playwright.request.new_context(base_url=server.url)
        https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.9"}
        response = request.get("/", headers=https)
        set_cookie = response.headers["set-cookie"]
        assert "HttpOnly" in set_cookie and "Secure" in set_cookie and "SameSite=Lax" in set_cookie
        token = re.search(r'name="csrf_token" value="([^"]+)"', response.text()).group(1)
        referer = {"Referer": server.url.replace("http:", "https:") + "/"}

        def attempt(address: str, login: str) -> int:
            headers = {**https, **referer, "X-Forwarded-For": address}
            return request.post(
                "/", headers=headers, form={"username": login, "password": "falsch", "csrf_token": token}
            ).status

        # per address: five failures from one address, then 429 there, while another address goes on
        assert [attempt("127.0.0.7", f"niemand{i}") for i in range(6)] == [401] * 5 + [429]
        assert attempt("127.0.0.8", "niemand9") == 401
        # per login: three failures from three addresses, the fourth address is throttled too
        assert [attempt(f"127.0.0.{20 + i}", "karl.lueders") for i in range(4)] == [401] * 3 + [429]
        request.dispose()
    finally:
        server.stop()
