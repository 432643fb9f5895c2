"""The teachers' web page: a Flask app with server-rendered German forms (no JavaScript needed).

- ``/`` login for teachers; ``/klassen`` their classes; ``POST /zuruecksetzen`` resets passwords and answers
  with the PDF of the new slips (the only place the new passwords exist); ``POST /abmelden`` logout.
- ``/passwort`` pupils change their own password (old password, new twice); no session.
- Scope is checked on the server on every request, from the directory: the teacher's account must still be
  active, the class must be one whose group lists the teacher, every pupil must be in that class.
- Flask-WTF puts a CSRF token into every form and refuses a POST without a valid one; Flask-Limiter counts
  failed logins per login name and per client address (in memory) and answers 429 beyond the limits.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import date
from http import HTTPStatus
from typing import Any, NoReturn

from flask import Flask, Response, abort, redirect, render_template, request, session, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from schulit.accounts import ops, schema
from schulit.accounts.model import ActualAccount
from schulit.accounts.rules import delivery_records
from schulit.audit import AuditLog
from schulit.errors import DirectoryError
from schulit.inventory import WebSettings
from schulit.letters import LetterText, render_pdf
from schulit.web.directory import MAX_PASSWORD, SchoolClass, WebDirectory, clean_login
from schulit.web.sessions import MemorySessions

GENERIC_LOGIN_ERROR = "Anmeldung nicht möglich. Bitte Benutzername und Passwort prüfen."
GENERIC_CHANGE_ERROR = "Das hat nicht geklappt. Bitte Benutzername und bisheriges Passwort prüfen."
MIN_NEW_PASSWORD = 8
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class WebConfig:
    """What the app needs besides the directory."""

    web: WebSettings
    county_name: str


def _failed(response: Response) -> bool:
    """Only failed attempts count against the login limits (a success redirects: 303)."""
    return response.status_code != HTTPStatus.SEE_OTHER


def _login_key() -> str:
    return "login:" + request.form.get("username", "").strip().lower()[:64]


def create_app(directory: WebDirectory, config: WebConfig) -> Flask:
    """Build the app; all state (sessions, limits) lives in it."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_bytes(32),  # signs CSRF tokens; new each start (sessions end with it)
        SESSION_COOKIE_NAME="schulit_session",
        MAX_CONTENT_LENGTH=256 * 1024,
        WTF_CSRF_TIME_LIMIT=config.web.idle_minutes * 60 * 4,
    )
    app.session_interface = MemorySessions(
        idle_seconds=config.web.idle_minutes * 60, secure_always=config.web.trusted_proxy is not None
    )
    CSRFProtect(app)
    limiter = Limiter(get_remote_address, app=app, storage_uri="memory://", strategy="fixed-window")
    window = f"{config.web.throttle_minutes} minutes"
    per_login = limiter.shared_limit(
        f"{config.web.failures_per_login} per {window}",
        scope="failed-login-name",
        key_func=_login_key,
        deduct_when=_failed,
        methods=["POST"],
    )
    per_address = limiter.shared_limit(
        f"{config.web.failures_per_address} per {window}",
        scope="failed-login-address",
        key_func=get_remote_address,
        deduct_when=_failed,
        methods=["POST"],
    )

    def page(template: str, status: int = 200, **values: Any) -> tuple[str, int]:
        return render_template(template, county=config.county_name, **values), status

    def current_teacher(connection: Any) -> ActualAccount | None:
        """The logged-in teacher, re-read: a deactivated, locked or changed account ends the session."""
        login = session.get("login")
        if not login:
            return None
        account = directory.account(connection, login)
        if (
            account is None
            or account.role != "teacher"
            or account.state != "active"
            or (account.dn != session.get("dn"))
        ):
            session.clear()
            return None
        return account

    @app.after_request
    def headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.errorhandler(CSRFError)
    def csrf_refused(_error: CSRFError) -> tuple[str, int]:
        return page(
            "message.html",
            400,
            title="Anfrage abgelehnt",
            text="Das Formular war abgelaufen oder unvollständig. Bitte die Seite neu laden.",
        )

    @app.errorhandler(429)
    def throttled(_error: HTTPException) -> tuple[str, int]:
        return page(
            "message.html",
            429,
            title="Zu viele Versuche",
            text="Zu viele fehlgeschlagene Anmeldungen. Bitte in einigen Minuten erneut versuchen.",
        )

    @app.errorhandler(403)
    def forbidden(_error: HTTPException) -> tuple[str, int]:
        return page(
            "message.html",
            403,
            title="Nicht erlaubt",
            text="Das dürfen Sie hier nicht. Es wurde nichts geändert.",
        )

    @app.errorhandler(DirectoryError)
    def directory_down(_error: DirectoryError) -> tuple[str, int]:
        app.logger.error("directory: %s", _error)
        return page(
            "message.html",
            503,
            title="Verzeichnis nicht erreichbar",
            text="Der Verzeichnisdienst antwortet gerade nicht. Bitte später erneut versuchen.",
        )

    @app.get("/")
    def login_form() -> Any:
        if session.get("login"):
            return redirect(url_for("classes"), code=303)
        return page("login.html")

    @app.post("/")
    @per_login
    @per_address
    def login() -> Any:
        login = clean_login(request.form.get("username", ""))
        password = request.form.get("password", "")
        if login is None or not password or len(password) > MAX_PASSWORD:
            return page("login.html", 401, error=GENERIC_LOGIN_ERROR, username=request.form.get("username"))
        with directory.service() as connection:
            account = directory.account(connection, login)
        if (
            account is None
            or account.role != "teacher"
            or account.state != "active"
            or not directory.password_matches(account, password)
        ):
            return page("login.html", 401, error=GENERIC_LOGIN_ERROR, username=login)
        session.clear()
        session.rotate = True  # type: ignore[attr-defined]
        session["login"] = account.login
        session["dn"] = account.dn
        session["name"] = f"{account.first_name} {account.last_name}"
        return redirect(url_for("classes"), code=303)

    @app.post("/abmelden")
    def logout() -> Any:
        session.clear()
        return redirect(url_for("login_form", abgemeldet=1), code=303)

    @app.get("/klassen")
    def classes() -> Any:
        with directory.service() as connection:
            teacher = current_teacher(connection)
            if teacher is None:
                return redirect(url_for("login_form"), code=303)
            taught = directory.classes_of(connection, teacher)
        return page("classes.html", classes=taught, teacher=teacher)

    @app.post("/zuruecksetzen")
    def reset() -> Any:
        with directory.service() as connection:
            teacher = current_teacher(connection)
            if teacher is None:
                abort(403)
            school_class = _requested_class(directory.classes_of(connection, teacher), teacher)
            by_login = {pupil.login: pupil for pupil in school_class.pupils}
            if request.form.get("umfang") == "klasse":
                chosen = list(school_class.pupils)
            else:
                logins = request.form.getlist("login")
                outside = sorted({login for login in logins if login not in by_login})
                if outside:  # a pupil of another class or school, a teacher: refused whole, logged
                    _refuse(
                        teacher, f"{school_class.school_id}/{school_class.name}: {', '.join(outside)[:300]}"
                    )
                chosen = [by_login[login] for login in sorted(set(logins))]
            if not chosen:
                taught = directory.classes_of(connection, teacher)
                return page(
                    "classes.html",
                    400,
                    classes=taught,
                    teacher=teacher,
                    error="Bitte mindestens eine Schülerin oder einen Schüler auswählen.",
                )
            issued = ops.issue_passwords(directory.inventory, chosen)
            names = {school_class.school_id: school_class.school_name}
            # the PDF is built before anything is written: a failure here changes nothing
            text = LetterText.from_inventory(directory.inventory)  # the county's words, portal and helpdesk
            pdf = render_pdf(delivery_records(issued, names, "reset"), names, date.today(), text)
            actor = f"{teacher.login} from {request.remote_addr}"
            with AuditLog(directory.inventory.audit_log, "web reset-password", actor=actor) as audit:
                ops.set_passwords(connection, directory.inventory, chosen, issued, audit)
        name = f"Zugangsdaten-{school_class.school_id}-{school_class.name}.pdf"
        return Response(
            pdf,
            mimetype="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.get("/passwort")
    def change_form() -> Any:
        return page("password.html")

    @app.post("/passwort")
    @per_login
    @per_address
    def change() -> Any:
        raw_login = request.form.get("username", "")
        login = clean_login(raw_login)
        old = request.form.get("old_password", "")
        new = request.form.get("new_password", "")
        problem = _new_password_problem(login or raw_login, old, new, request.form.get("new_password2", ""))
        if problem:
            return page("password.html", 400, error=problem, username=raw_login)
        if login is None or not old:
            return page("password.html", 401, error=GENERIC_CHANGE_ERROR, username=raw_login)
        with directory.service() as connection:
            account = directory.account(connection, login)
            if (
                account is None
                or account.role != "pupil"
                or account.state != "active"
                or not directory.password_matches(account, old)
            ):
                return page("password.html", 401, error=GENERIC_CHANGE_ERROR, username=login)
            modification = ops.new_password_modification(directory.inventory, new)
            actor = f"{account.login} from {request.remote_addr}"
            with AuditLog(directory.inventory.audit_log, "web change-password", actor=actor) as audit:
                # applied only while the account is still active (a sync may deactivate it meanwhile)
                controls = [schema.same_state_control(True)]
                ok = connection.modify(account.dn, modification, controls=controls)[0]
                if not ok:
                    raise DirectoryError(f"changing the password of {account.login} failed")
                audit.record("modify", account.dn, list(modification))
        return redirect(url_for("changed"), code=303)

    @app.get("/passwort/geaendert")
    def changed() -> Any:
        return page(
            "message.html",
            title="Passwort geändert",
            text="Dein Passwort ist geändert. Melde dich ab jetzt mit dem neuen Passwort an.",
        )

    return app


def _requested_class(taught: list[SchoolClass], teacher: ActualAccount) -> SchoolClass:
    """The class named by the form, if the teacher teaches it; else 403."""
    school_id, name = request.form.get("schule", ""), request.form.get("klasse", "")
    for school_class in taught:
        if (school_class.school_id, school_class.name) == (school_id, name):
            return school_class
    _refuse(teacher, f"class {school_id[:40]!r}/{name[:40]!r} not theirs")


def _refuse(teacher: ActualAccount, what: str) -> NoReturn:
    """403 for a request outside the teacher's scope, with a warning on stderr for the admin."""
    logging.getLogger("schulit.web").warning(
        "refused: %s from %s asked to reset %s", teacher.login, request.remote_addr, what
    )
    abort(403)


def _new_password_problem(login: str, old: str, new: str, repeated: str) -> str | None:
    """Why a new password is not accepted (in German), or None."""
    if not new:
        return "Bitte ein neues Passwort eingeben."
    if new != repeated:
        return "Die beiden neuen Passwörter stimmen nicht überein."
    if len(new) < MIN_NEW_PASSWORD:
        return f"Das neue Passwort muss mindestens {MIN_NEW_PASSWORD} Zeichen lang sein."
    if len(new) > MAX_PASSWORD:
        return f"Das neue Passwort darf höchstens {MAX_PASSWORD} Zeichen lang sein."
    if new.strip().lower() == login.strip().lower():
        return "Das neue Passwort darf nicht der Benutzername sein."
    if new == old:
        return "Das neue Passwort muss sich vom bisherigen unterscheiden."
    return None
