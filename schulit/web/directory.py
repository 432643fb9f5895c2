"""What the web page reads from and checks against the directory: accounts, a teacher's classes, binds.

Every answer comes from the directory at the time of the request (nothing cached), found with the web
service's own identity; a person's password is checked by a bind of its own, on a connection of its own.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from schulit.accounts.model import ACCOUNT_ATTRIBUTES, GROUP_MARKER, KEY_PREFIX, ActualAccount
from schulit.accounts.schema import home_school_of, parse_account
from schulit.directory.connection import check_transport, connected, directory_server, disconnect
from schulit.directory.layout import ROLE_CONTAINERS
from schulit.directory.read import first, paged, values
from schulit.errors import DirectoryError, InventoryError
from schulit.inventory import Inventory, WebSettings
from schulit.naming import transliterate

LOGIN_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_PASSWORD = 256


@dataclass(frozen=True)
class SchoolClass:
    """One class a teacher teaches, with its active pupils sorted by name."""

    school_id: str
    school_name: str
    name: str
    pupils: tuple[ActualAccount, ...]


def clean_login(raw: str) -> str | None:
    """The login as typed, trimmed and lower-cased; None when it cannot be a schulit login."""
    login = raw.strip().lower()
    return login if LOGIN_PATTERN.match(login) else None


class WebDirectory:
    """The directory as the web page sees it."""

    def __init__(self, inventory: Inventory, web: WebSettings):
        self.inventory = inventory
        self.layout = inventory.layout
        self.user_settings = inventory.directory
        self.service_settings = replace(
            inventory.directory, bind_dn=web.bind_dn, password_file=web.password_file
        )

    def service(self) -> AbstractContextManager[ldap3.Connection]:
        """A connection bound as the web service's identity, for one request."""
        return connected(self.service_settings)

    def account(self, connection: ldap3.Connection, login: str) -> ActualAccount | None:
        """The schulit-managed account with this (already cleaned) login, or None."""
        search_filter = (
            f"(&(objectClass=posixAccount)(uid={escape_filter_chars(login)})"
            f"(employeeNumber={escape_filter_chars(KEY_PREFIX)}*))"
        )
        found = list(paged(connection, self.layout.schools_dn, search_filter, ACCOUNT_ATTRIBUTES))
        if len(found) != 1:
            return None
        account = parse_account(*found[0], self.layout)
        return account if account.role in ROLE_CONTAINERS and account.home_school else None

    def password_matches(self, account: ActualAccount, password: str) -> bool:
        """True if a simple bind as the account with ``password`` succeeds. Empty passwords never match.

        An empty password would be an *unauthenticated* bind (RFC 4513 5.1.2), which some directories accept
        for any DN: it is refused here, before anything is sent.
        """
        if not password or len(password) > MAX_PASSWORD:
            return False
        check_transport(self.user_settings)
        connection = ldap3.Connection(
            directory_server(self.user_settings),
            user=account.dn,
            password=password,
            client_strategy=ldap3.SAFE_SYNC,
            receive_timeout=max(1, int(self.user_settings.timeout * 6)),
            raise_exceptions=False,
            auto_bind=ldap3.AUTO_BIND_NONE,
        )
        try:
            connection.open()
            if self.user_settings.start_tls and self.user_settings.url.startswith("ldap://"):
                connection.start_tls()
                if not connection.tls_started:
                    raise DirectoryError(f"{self.user_settings.url}: StartTLS failed")
            connection.bind()
            return bool(connection.bound)
        except LDAPException as exc:
            raise DirectoryError(f"{self.user_settings.url}: cannot check a password: {exc}") from None
        finally:
            disconnect(connection)

    def classes_of(self, connection: ldap3.Connection, teacher: ActualAccount) -> list[SchoolClass]:
        """The classes whose group lists ``teacher``, in the teacher's schools, with their pupils."""
        search_filter = (
            f"(&(objectClass=posixGroup)(description={escape_filter_chars(GROUP_MARKER)})"
            f"(memberUid={escape_filter_chars(teacher.login)}))"
        )
        classes = []
        for dn, attributes in paged(connection, self.layout.schools_dn, search_filter, ["cn"]):
            school_id = home_school_of(dn, self.layout)
            name = first(attributes, "cn").removeprefix(f"{school_id}-")
            if (
                school_id not in teacher.schools
                or not first(attributes, "cn").startswith(f"{school_id}-")
                or name in ROLE_CONTAINERS.values()
                or dn.lower() != self._class_group_dn(school_id, name).lower()
            ):
                continue
            school_class = self.school_class(connection, school_id, name)
            if school_class is not None:
                classes.append(school_class)
        return sorted(classes, key=lambda c: (c.school_name, _class_sort_key(c.name)))

    def school_class(self, connection: ldap3.Connection, school_id: str, name: str) -> SchoolClass | None:
        """A class with its pupils: accounts in the school's pupils container, of that class, in its group."""
        try:
            school_name = self.inventory.school(school_id).name
        except InventoryError:  # a school the inventory no longer has shows nothing
            return None
        ok, _result, response, _ = connection.search(
            self._class_group_dn(school_id, name),
            f"(&(objectClass=posixGroup)(description={escape_filter_chars(GROUP_MARKER)}))",
            ldap3.BASE,
            attributes=["memberUid"],
        )
        if not ok or not response:
            return None
        members = set(values(response[0]["attributes"], "memberUid"))
        search_filter = (
            f"(&(objectClass=posixAccount)(employeeType=pupil)"
            f"(employeeNumber={escape_filter_chars(KEY_PREFIX)}*)(ou={escape_filter_chars(name)}))"
        )
        pupils = [
            account
            for account in (
                parse_account(dn, attributes, self.layout)
                for dn, attributes in paged(
                    connection,
                    self.layout.container_dn(school_id, "pupils"),
                    search_filter,
                    ACCOUNT_ATTRIBUTES,
                    scope=ldap3.LEVEL,
                )
            )
            if account.login in members and account.deactivated_on is None and account.class_name == name
        ]
        pupils.sort(
            key=lambda a: (transliterate(a.last_name).lower(), transliterate(a.first_name).lower(), a.login)
        )
        return SchoolClass(school_id, school_name, name, tuple(pupils))

    def _class_group_dn(self, school_id: str, name: str) -> str:
        return self.layout.group_dn(school_id, f"{school_id}-{name}")


def _class_sort_key(name: str) -> tuple[int, str]:
    digits = re.match(r"^\d+", name)
    return (int(digits.group()) if digits else 10_000, name)
