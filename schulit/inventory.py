"""Load and validate an inventory directory into plain, typed records.

Layout of an inventory directory::

    county.toml          county settings: directory, naming, numbers, lifecycle, safety, passwords, ssh
    schools/<id>.toml    one file per school: id, name, type, identity, rosters, servers, network

Every problem is collected (not just the first) and reported as ``file: key: problem``.
Relative paths in the files are resolved against the inventory directory.

The environment overrides the directory connection (``SCHULIT_LDAP_*``, SPEC §6) *at load*: the values go
through the same validators as the file's (a problem names the variable), and the returned ``Inventory`` is
the one resolved truth that every layer below the CLI receives: there is no unresolved copy to pick.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from schulit.directory.layout import Layout, normalise_dn
from schulit.errors import InventoryError
from schulit.naming import NamingPolicy, transliterate
from schulit.records import ROSTER_FIELDS, RosterSource

SCHOOL_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$")
HOST_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")
MAC_PATTERN = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
SCHOOL_TYPES = (
    "Grundschule",
    "Oberschule",
    "Hauptschule",
    "Realschule",
    "Gesamtschule",
    "Gymnasium",
    "BBS",
    "Förderschule",
)
IDENTITIES = ("source-id", "name+birthdate")
ROSTER_FORMATS = ("csv", "oneroster", "sophomorix", "ucs-school")
ROSTER_ROLES = ("pupil", "teacher", "mixed")
HASH_SCHEMES = ("crypt-sha512", "ssha")
ID_SCOPES = ("school", "county")
DIRECTORY_FLAVOURS = ("openldap", "samba-ad")
ENV_OVERRIDES = {  # environment variable -> key in [directory]
    "SCHULIT_LDAP_URL": "url",
    "SCHULIT_LDAP_BASE_DN": "base_dn",
    "SCHULIT_LDAP_BIND_DN": "bind_dn",
    "SCHULIT_LDAP_PASSWORD_FILE": "password_file",
    "SCHULIT_LDAP_CA_FILE": "ca_file",
}
DEFAULT_PORTS = {"ldap": 389, "ldaps": 636}


@dataclass(frozen=True)
class DirectorySettings:
    """How to reach and bind to the central LDAP directory."""

    url: str
    base_dn: str
    bind_dn: str
    password_file: Path | None = None
    ca_file: Path | None = None
    start_tls: bool = False
    allow_plaintext_loopback: bool = False
    timeout: float = 10.0
    transactions: bool = False  # new accounts in RFC 5805 transactions (README: a slapd 2.5 crash)
    flavour: str = "openldap"  # or "samba-ad": Active Directory objects (schulit.accounts.flavour_ad)
    realm: str = ""  # samba-ad: the Kerberos realm (default: the DC components of base_dn, upper case)
    # samba-ad: a new user's password in its add (one write) instead of a modify after it; None = "auto":
    # in the add when the DC is Samba (its root DSE's vendorName), else a modify (Microsoft AD)
    password_on_add: bool | None = None
    workgroup: str = ""  # samba-ad: the NetBIOS domain name (default: the realm's first label, upper case)
    client_url: str = ""  # the URL school servers use (default: url)
    client_ca_file: str = ""  # the CA's path on the servers (default /etc/ssl/certs/<short_name>-ca.pem)

    @property
    def identity(self) -> str:
        """Which directory and subtree these settings address, spelled one way (the run lock's key).

        ``ldap://127.0.0.1/`` and ``LDAP://127.0.0.1:389`` are the same server; ``dc=A, dc=B`` and
        ``dc=a,dc=b`` the same subtree.
        """
        places = []
        for url in re.split(r"[\s,]+", self.url.strip()):  # a list of replication providers: each
            parsed = urlparse(url)
            scheme = parsed.scheme.lower()
            if scheme == "ldapi":
                where = parsed.netloc.lower()
            else:
                where = f"{(parsed.hostname or '').lower()}:{parsed.port or DEFAULT_PORTS.get(scheme, 0)}"
            places.append(f"{scheme}://{where}")
        return f"{','.join(sorted(places))}\0{normalise_dn(self.base_dn)}"  # the same providers, any order


@dataclass(frozen=True)
class ServerIdentities:
    """Where schulit keeps the school servers' directory secrets (one 0600 file per server)."""

    secrets_dir: Path = Path("/var/lib/schulit/server-secrets")


@dataclass(frozen=True)
class SambaSettings:
    """Opt-in Samba (ldapsam) attributes on accounts and groups: sambaSamAccount, sambaGroupMapping."""

    enabled: bool = False
    domain_name: str = ""
    domain_sid: str = ""


@dataclass(frozen=True)
class WebSettings:
    """The teachers' web page (``schulit web``): its own directory identity, address, proxy and limits."""

    bind_dn: str
    password_file: Path | None = None
    listen: str = "127.0.0.1:8080"
    trusted_proxy: str | None = None  # the TLS reverse proxy's address: cookies Secure, its X-Forwarded-*
    idle_minutes: int = 30
    failures_per_login: int = 10  # failed logins per login name within throttle_minutes
    failures_per_address: int = 100  # per client address (a school behind one NAT address shares it)
    throttle_minutes: int = 15


@dataclass(frozen=True)
class NumberRange:
    """An inclusive range of uidNumber or gidNumber values schulit may allocate from."""

    first: int
    last: int


@dataclass(frozen=True)
class IdentityPolicy:
    """How far a roster source id is unique: within one school, or county-wide.

    ``county`` scope lets a pupil move school with the same account (the id follows the person, e.g. one
    county-hosted school-administration system or a Land-wide pupil id); teachers default to ``county``
    because their id is usually the staff number. ``school`` scope prefixes the id with the school id.
    """

    pupil_id_scope: str = "school"
    teacher_id_scope: str = "county"
    name_key_file: Path | None = None  # secret for the keys of name+birthdate schools (rosters/namekey.py)


@dataclass(frozen=True)
class LifecyclePolicy:
    """How long leavers stay deactivated, and how long a deleted login stays reserved."""

    grace_days: int = 90
    login_retention_days: int = 365


@dataclass(frozen=True)
class SafetyLimits:
    """A run stops before writing if it would deactivate/delete more than either limit per school."""

    max_percent: float = 10.0
    max_count: int = 50


@dataclass(frozen=True)
class PasswordPolicy:
    """Initial password length, hash scheme and where delivery files (mode 0600) go."""

    length: int = 10
    hash_scheme: str = "crypt-sha512"
    delivery_dir: Path = Path("/var/lib/schulit/passwords")
    change_at_first_logon: tuple[str, ...] = ("pupil", "teacher")  # samba-ad: roles with pwdLastSet = 0
    never_expire: tuple[str, ...] = ()  # samba-ad: roles whose password never expires


@dataclass(frozen=True)
class LetterSettings:
    """The county's own words on the password letters (``[letters]``); empty means the built-in text.

    ``pupil_text`` and ``teacher_text`` replace the instruction lines of the slips; ``{portal}`` and
    ``{helpdesk}`` in them are replaced by ``portal`` and ``helpdesk``.
    """

    portal: str = ""
    helpdesk: str = ""
    logo: Path | None = None
    sender: str = ""
    pupil_text: tuple[str, ...] = ()
    teacher_text: tuple[str, ...] = ()


@dataclass(frozen=True)
class SshSettings:
    """County-wide SSH client settings for pushing configs."""

    key_file: Path | None = None
    known_hosts: Path | None = None
    connect_timeout: float = 10.0
    command_timeout: float = 60.0
    forks: int = 10


@dataclass(frozen=True)
class Device:
    """A device with a fixed DHCP lease in a school network."""

    name: str
    mac: str
    ip: str


@dataclass(frozen=True)
class Network:
    """A school's network, used by the DHCP/DNS templates."""

    subnet: str
    gateway: str
    dns_domain: str
    dhcp_start: str
    dhcp_end: str
    dns_servers: tuple[str, ...] = ()
    devices: tuple[Device, ...] = ()


@dataclass(frozen=True)
class Server:
    """A school server that receives rendered configs over SSH."""

    name: str
    school_id: str
    address: str
    port: int = 22
    user: str = "root"
    roles: tuple[str, ...] = ()
    host_key: str | None = None
    root: str = "/"
    handler_commands: Mapping[str, str] = field(default_factory=dict)
    validate_commands: Mapping[str, str] = field(default_factory=dict)
    vars: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class School:
    """One school: identity, roster sources, servers and network."""

    id: str
    name: str
    type: str
    identity: str
    rosters: tuple[RosterSource, ...]
    servers: tuple[Server, ...]
    network: Network | None
    vars: Mapping[str, Any]
    file: Path
    # fallback for exports without a class column: teacher's source id -> classes they teach (normalised)
    teacher_classes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    require_class: bool = False  # reject pupils without a class instead of syncing them class-less


@dataclass(frozen=True)
class Inventory:
    """The whole county: settings plus schools, in file-name order."""

    root: Path
    county_name: str
    county_short_name: str
    directory: DirectorySettings
    naming: NamingPolicy
    identity: IdentityPolicy
    uid_range: NumberRange
    gid_range: NumberRange
    lifecycle: LifecyclePolicy
    safety: SafetyLimits
    passwords: PasswordPolicy
    ssh: SshSettings
    templates_dir: Path
    schools: tuple[School, ...]
    audit_log: Path | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    server_identities: ServerIdentities = field(default_factory=ServerIdentities)
    samba: SambaSettings = field(default_factory=SambaSettings)
    letters: LetterSettings = field(default_factory=LetterSettings)
    web: WebSettings | None = None

    @cached_property
    def _schools_by_id(self) -> dict[str, School]:
        return {school.id: school for school in self.schools}

    def school(self, school_id: str) -> School:
        """Return the school with this id or raise InventoryError (a dict look-up: called per person)."""
        found = self._schools_by_id.get(school_id)
        if found is not None:
            return found
        known = ", ".join(s.id for s in self.schools)
        raise InventoryError([f"{self.root}: no school with id {school_id!r} (known: {known})"])

    def servers(self) -> list[Server]:
        """All servers of all schools."""
        return [server for school in self.schools for server in school.servers]

    @property
    def layout(self) -> Layout:
        """Where things live below the (resolved) base DN."""
        return Layout(self.directory.base_dn, self.directory.flavour)


class _Table:
    """A TOML table being validated: remembers file and key path, collects problems."""

    def __init__(self, data: Mapping[str, Any], file: Path, where: str, problems: list[str]):
        self.data = data
        self.file = file
        self.where = where
        self.problems = problems
        self.seen: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.file}: {self._key(key)}: {message}")

    def _get(self, key: str, kinds: tuple[type, ...], expected: str, required: bool, default: Any) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if required:
                self.problem(key, f"missing (expected {expected})")
            return default
        value = self.data[key]
        if isinstance(value, bool) and bool not in kinds:
            self.problem(key, f"expected {expected}, got {value!r}")
            return default
        if not isinstance(value, kinds):
            self.problem(key, f"expected {expected}, got {value!r}")
            return default
        return value

    def string(
        self,
        key: str,
        default: str | None = None,
        *,
        required: bool = False,
        choices: tuple[str, ...] | None = None,
        pattern: re.Pattern[str] | None = None,
    ) -> Any:
        value = self._get(key, (str,), "a string", required, default)
        if value is default or value is None:
            return value
        if not value.strip():
            self.problem(key, "must not be empty")
            return default
        if choices is not None and value not in choices:
            self.problem(key, f"expected one of {', '.join(choices)}, got {value!r}")
            return default
        if pattern is not None and not pattern.match(value):
            self.problem(key, f"{value!r} does not match {pattern.pattern}")
            return default
        return value

    def integer(
        self,
        key: str,
        default: int,
        *,
        low: int | None = None,
        high: int | None = None,
        required: bool = False,
    ) -> int:
        value = self._get(key, (int,), "an integer", required, default)
        if value is default:
            return value
        if (low is not None and value < low) or (high is not None and value > high):
            self.problem(key, f"expected an integer from {low} to {high}, got {value}")
            return default
        return value

    def number(self, key: str, default: float, *, low: float = 0, high: float | None = None) -> float:
        value = self._get(key, (int, float), "a number", False, default)
        if value is default:
            return value
        if value < low or (high is not None and value > high):
            self.problem(key, f"expected a number from {low} to {high}, got {value}")
            return default
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        return self._get(key, (bool,), "true or false", False, default)

    def auto_boolean(self, key: str) -> bool | None:
        """true, false, or "auto" (the default) → None: decided later from what the server says."""
        value = self._get(key, (bool, str), 'true, false or "auto"', False, "auto")
        if value == "auto":
            return None
        if isinstance(value, str):
            self.problem(key, f'expected true, false or "auto", got {value!r}')
            return None
        return value

    def path(self, key: str, base: Path, *, required: bool = False) -> Path | None:
        value = self.string(key, required=required)
        if value is None:
            return None
        return (base / value).resolve() if not Path(value).is_absolute() else Path(value)

    def table(self, key: str, *, required: bool = False) -> _Table:
        value = self._get(key, (dict,), "a table", required, {})
        return _Table(value, self.file, self._key(key), self.problems)

    def free_table(self, key: str) -> dict[str, Any]:
        """A table whose keys are not validated (template variables)."""
        return dict(self._get(key, (dict,), "a table", False, {}))

    def string_map(self, key: str) -> dict[str, str]:
        raw = self._get(key, (dict,), "a table of strings", False, {})
        result = {}
        for name, value in raw.items():
            if isinstance(value, str):
                result[name] = value
            else:
                self.problems.append(
                    f"{self.file}: {self._key(key)}.{name}: expected a string, got {value!r}"
                )
        return result

    def array_of_tables(self, key: str) -> list[_Table]:
        raw = self._get(key, (list,), "an array of tables", False, [])
        tables = []
        for index, item in enumerate(raw):
            if isinstance(item, dict):
                tables.append(_Table(item, self.file, f"{self._key(key)}[{index}]", self.problems))
            else:
                self.problems.append(f"{self.file}: {self._key(key)}[{index}]: expected a table")
        return tables

    def string_list(self, key: str) -> list[str]:
        raw = self._get(key, (list,), "a list of strings", False, [])
        if not all(isinstance(item, str) for item in raw):
            self.problem(key, "expected a list of strings")
            return []
        return list(raw)

    def done(self) -> None:
        """Report keys that were present but never asked for (typos, unsupported settings)."""
        for key in sorted(set(self.data) - self.seen):
            self.problem(key, "unknown key")


class _WithEnvironment(_Table):
    """A table with some keys taken from environment variables: their problems name the variable, and
    their relative paths are relative to the working directory (where the variable was set)."""

    def __init__(self, table: _Table, overrides: Mapping[str, tuple[str, str]]):
        super().__init__(
            {**table.data, **{key: value for key, (_variable, value) in overrides.items()}},
            table.file,
            table.where,
            table.problems,
        )
        self.variables = {key: variable for key, (variable, _value) in overrides.items()}

    def problem(self, key: str, message: str) -> None:
        if key in self.variables:
            self.problems.append(f"environment: {self.variables[key]}: {message}")
        else:
            super().problem(key, message)

    def path(self, key: str, base: Path, *, required: bool = False) -> Path | None:
        return super().path(key, Path.cwd() if key in self.variables else base, required=required)


def _read_toml(file: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        problems.append(f"{file}: cannot read: {exc.strerror or exc}")
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{file}: invalid TOML: {exc}")
    return None


def _check_dn(table: _Table, key: str, value: str | None) -> None:
    if value is not None and not re.match(r"^[A-Za-z][\w-]*=[^,]+(,\s*[A-Za-z][\w-]*=[^,]+)*$", value):
        table.problem(key, f"{value!r} is not a distinguished name like dc=example,dc=org")


def load_inventory(root: Path | str, environ: Mapping[str, str] | None = None) -> Inventory:
    """Load and validate the inventory in ``root`` with the ``SCHULIT_LDAP_*`` variables of ``environ``
    (default: the process environment) applied; raise InventoryError listing every problem."""
    environ = os.environ if environ is None else environ
    root = Path(root).resolve()
    problems: list[str] = []
    county_file = root / "county.toml"
    if not root.is_dir():
        raise InventoryError([f"{root}: inventory directory not found"])
    data = _read_toml(county_file, problems)
    if data is None:
        raise InventoryError(problems)
    top = _Table(data, county_file, "", problems)

    county = top.table("county", required=True)
    county_name = county.string("name", "", required=True)
    short_name = county.string("short_name", "", required=True, pattern=SCHOOL_ID_PATTERN)
    county.done()

    overrides = {
        key: (variable, environ[variable]) for variable, key in ENV_OVERRIDES.items() if environ.get(variable)
    }
    directory = _load_directory(
        _WithEnvironment(top.table("directory", required=True), overrides), root, short_name or "county"
    )
    naming_table = top.table("naming")
    naming = NamingPolicy(
        scheme=naming_table.string("scheme", "{first}.{last}"),
        max_length=naming_table.integer("max_length", 20, low=8, high=64),
    )
    if "{first}" not in naming.scheme and "{f}" not in naming.scheme and "{last}" not in naming.scheme:
        naming_table.problem("scheme", "must contain {first}, {f} or {last}")
    if directory.flavour == "samba-ad" and naming.max_length > 20:
        naming_table.problem("max_length", "at most 20 with samba-ad (the limit of a Windows login)")
    naming_table.done()

    identity_table = top.table("identity")
    identity = IdentityPolicy(
        pupil_id_scope=identity_table.string("pupil_id_scope", "school", choices=ID_SCOPES),
        teacher_id_scope=identity_table.string("teacher_id_scope", "county", choices=ID_SCOPES),
        name_key_file=identity_table.path("name_key_file", root),
    )
    identity_table.done()

    numbers = top.table("numbers")
    uid_range = NumberRange(
        numbers.integer("uid_first", 100000, low=1000), numbers.integer("uid_last", 199999)
    )
    gid_range = NumberRange(
        numbers.integer("gid_first", 100000, low=1000), numbers.integer("gid_last", 199999)
    )
    for name, rng in (("uid", uid_range), ("gid", gid_range)):
        if rng.last <= rng.first:
            numbers.problem(f"{name}_last", f"must be greater than {name}_first ({rng.first})")
    numbers.done()

    lifecycle_table = top.table("lifecycle")
    lifecycle = LifecyclePolicy(
        grace_days=lifecycle_table.integer("grace_days", 90, low=0, high=3650),
        login_retention_days=lifecycle_table.integer("login_retention_days", 365, low=0, high=36500),
    )
    lifecycle_table.done()

    safety_table = top.table("safety")
    safety = SafetyLimits(
        max_percent=safety_table.number("max_percent", 10.0, low=0, high=100),
        max_count=safety_table.integer("max_count", 50, low=0),
    )
    safety_table.done()

    password_table = top.table("passwords")
    passwords = PasswordPolicy(
        length=password_table.integer("length", 10, low=8, high=64),
        hash_scheme=password_table.string("hash", "crypt-sha512", choices=HASH_SCHEMES),
        delivery_dir=password_table.path("delivery_dir", root) or Path("/var/lib/schulit/passwords"),
        change_at_first_logon=_roles_switch(password_table, "change_at_first_logon", ("pupil", "teacher")),
        never_expire=_roles_switch(password_table, "never_expire", ()),
    )
    for role in sorted(set(passwords.change_at_first_logon) & set(passwords.never_expire)):
        password_table.problem(
            "never_expire",
            f"{role}: AD ignores 'change at first logon' (pwdLastSet = 0) while a password never expires; "
            f"set change_at_first_logon = {{{role} = false}} or drop {role} here",
        )
    password_table.done()

    ssh_table = top.table("ssh")
    ssh = SshSettings(
        key_file=ssh_table.path("key_file", root),
        known_hosts=ssh_table.path("known_hosts", root),
        connect_timeout=ssh_table.number("connect_timeout", 10.0, low=0.1, high=600),
        command_timeout=ssh_table.number("command_timeout", 60.0, low=0.1, high=3600),
        forks=ssh_table.integer("forks", 10, low=1, high=256),
    )
    ssh_table.done()

    templates_table = top.table("templates")
    templates_dir = templates_table.path("dir", root) or (root / "templates")
    templates_table.done()
    audit_table = top.table("audit")
    audit_log = audit_table.path("file", root)
    audit_table.done()
    letters = _load_letters(top.table("letters"), root)
    web = _load_web(top.table("web"), root) if "web" in data else None
    county_vars = top.free_table("vars")
    servers_table = top.table("servers")
    server_identities = ServerIdentities(
        secrets_dir=servers_table.path("secrets_dir", root) or Path("/var/lib/schulit/server-secrets")
    )
    servers_table.done()
    samba = _load_samba(top.table("samba"))
    top.done()

    schools = _load_schools(root, problems)
    matched_by_name = [s.id for s in schools if s.identity == "name+birthdate"]
    if matched_by_name and identity.name_key_file is None:
        problems.append(
            f"{county_file}: identity.name_key_file: missing (expected the path of a secret file; "
            f"{', '.join(matched_by_name)} are matched by name and birth date, whose keys it protects)"
        )
    if problems:
        raise InventoryError(problems)
    return Inventory(
        root=root,
        county_name=county_name,
        county_short_name=short_name,
        directory=directory,
        naming=naming,
        identity=identity,
        uid_range=uid_range,
        gid_range=gid_range,
        lifecycle=lifecycle,
        safety=safety,
        passwords=passwords,
        ssh=ssh,
        templates_dir=templates_dir,
        schools=tuple(schools),
        vars=county_vars,
        audit_log=audit_log,
        server_identities=server_identities,
        samba=samba,
        letters=letters,
        web=web,
    )


SID_PATTERN = re.compile(r"^S-1-5-21-\d+-\d+-\d+$")
NETBIOS_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,14}$")


def _load_samba(table: _Table) -> SambaSettings:
    enabled = table.boolean("enabled", False)
    settings = SambaSettings(
        enabled=enabled,
        domain_name=table.string("domain_name", "", required=enabled, pattern=NETBIOS_PATTERN) or "",
        domain_sid=table.string("domain_sid", "", required=enabled, pattern=SID_PATTERN) or "",
    )
    table.done()
    return settings


LOGO_SUFFIXES = (".png", ".jpg", ".jpeg")


def _load_letters(table: _Table, root: Path) -> LetterSettings:
    logo = table.path("logo", root)
    if logo is not None:
        if logo.suffix.lower() not in LOGO_SUFFIXES:
            table.problem("logo", f"expected a PNG or JPEG file, got {logo.name!r}")
        elif not logo.is_file():
            table.problem("logo", f"file not found: {logo}")
    settings = LetterSettings(
        portal=table.string("portal", "") or "",
        helpdesk=table.string("helpdesk", "") or "",
        logo=logo,
        sender=table.string("sender", "") or "",
        pupil_text=tuple(table.string_list("pupil_text")),
        teacher_text=tuple(table.string_list("teacher_text")),
    )
    table.done()
    return settings


def suggest_school_id(value: str) -> str:
    """A valid school id close to ``value`` ("GS Testdörf" → "gs-testdoerf"), or "" if none."""
    text = transliterate(value).lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    text = re.sub(r"-{2,}", "-", text)[:32].strip("-")
    return text if SCHOOL_ID_PATTERN.match(text) else ""


def _directory_url(table: _Table) -> str:
    """``url``: one URL, or a list of replication providers (kept as one comma-separated string, the form
    OpenLDAP's and sssd's own URI settings take; ``schulit.directory.connection.provider_urls`` splits it)."""
    if isinstance(table.data.get("url"), list):
        urls = table.string_list("url")
        if not urls:
            table.problem("url", "expected at least one URL")
    else:
        text = table.string("url", "", required=True)
        urls = [u for u in re.split(r"[\s,]+", text) if u]
    for url in urls:
        if not re.match(r"^(ldap|ldaps|ldapi)://[^\s,]*$", url):
            table.problem("url", f"expected an ldap://, ldaps:// or ldapi:// URL, got {url!r}")
    if len({u.lower() for u in urls}) != len(urls):
        table.problem("url", "a provider is listed twice")
    return ",".join(urls)


def _load_directory(table: _Table, root: Path, short_name: str) -> DirectorySettings:
    url = _directory_url(table)
    base_dn = table.string("base_dn", "", required=True)
    _check_dn(table, "base_dn", base_dn or None)
    bind_dn = table.string("bind_dn", "", required=True)
    _check_dn(table, "bind_dn", bind_dn or None)
    settings = DirectorySettings(
        url=url,
        base_dn=base_dn,
        bind_dn=bind_dn,
        password_file=table.path("password_file", root),
        ca_file=table.path("ca_file", root),
        start_tls=table.boolean("start_tls", False),
        allow_plaintext_loopback=table.boolean("allow_plaintext_loopback", False),
        timeout=table.number("timeout", 10.0, low=0.1, high=600),
        transactions=table.boolean("transactions", False),
        flavour=table.string("flavour", "openldap", choices=DIRECTORY_FLAVOURS),
        realm=table.string("realm", ""),
        password_on_add=table.auto_boolean("password_on_add"),
        workgroup=table.string("workgroup", ""),
        client_url=table.string("client_url", url) or url,
        client_ca_file=table.string("client_ca_file", f"/etc/ssl/certs/{short_name}-ca.pem") or "",
    )
    if settings.client_url and not re.match(r"^(ldap|ldaps)://", settings.client_url):
        table.problem("client_url", f"expected an ldap:// or ldaps:// URL, got {settings.client_url!r}")
    if not settings.client_ca_file.startswith("/"):
        table.problem(
            "client_ca_file", f"expected an absolute path on the servers, got {settings.client_ca_file!r}"
        )
    table.done()
    if settings.flavour == "samba-ad":
        settings = _check_samba_ad(table, settings)
    return settings


def _check_samba_ad(table: _Table, settings: DirectorySettings) -> DirectorySettings:
    """AD needs an encrypted connection for passwords, and a realm (default: from the base DN)."""
    if settings.url.startswith("ldap://") and not settings.start_tls:
        table.problem("url", "samba-ad writes passwords (unicodePwd): use ldaps:// or start_tls = true")
    realm = settings.realm
    if not realm and settings.base_dn:
        rdns = [part.strip() for part in settings.base_dn.split(",")]
        parts = [rdn.split("=", 1)[1] for rdn in rdns if rdn.lower().startswith("dc=")]
        realm = ".".join(parts).upper()
        if not realm:
            table.problem("realm", "set realm (the base DN has no DC= parts to derive it from)")
    if realm and not re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*", realm):
        table.problem("realm", f"{realm!r} is not a DNS-style realm like AD.EXAMPLE.ORG")
    workgroup = (settings.workgroup or realm.split(".")[0]).upper()
    if workgroup and not re.fullmatch(r"[A-Z0-9][A-Z0-9-]{0,14}", workgroup):
        table.problem("workgroup", f"{workgroup!r}: a NetBIOS domain has letters, digits, '-', at most 15")
    return replace(settings, realm=realm.upper(), workgroup=workgroup)


def _roles_switch(table: _Table, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """``key = true|false`` (every role) or ``{pupil = true, teacher = false}``: the roles it is on for."""
    expected = "true, false or {pupil = true|false, teacher = true|false}"
    value = table._get(key, (bool, dict), expected, False, None)
    if value is None:
        return default
    if isinstance(value, bool):
        return ("pupil", "teacher") if value else ()
    roles = []
    for role, switch in value.items():
        if role not in ("pupil", "teacher") or not isinstance(switch, bool):
            table.problem(key, f"expected {expected}, got {role} = {switch!r}")
        elif switch:
            roles.append(role)
    return tuple(roles)


def _load_web(table: _Table, root: Path) -> WebSettings:
    bind_dn = table.string("bind_dn", "", required=True)
    _check_dn(table, "bind_dn", bind_dn or None)
    listen = table.string("listen", "127.0.0.1:8080")
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        table.problem("listen", f"expected ADDRESS:PORT like 127.0.0.1:8080, got {listen!r}")
    proxy = table.string("trusted_proxy", "") or None
    if proxy is not None:
        try:
            ipaddress.ip_address(proxy)
        except ValueError:
            table.problem("trusted_proxy", f"expected the proxy's IP address, got {proxy!r}")
    settings = WebSettings(
        bind_dn=bind_dn,
        password_file=table.path("password_file", root, required=True),
        listen=listen,
        trusted_proxy=proxy,
        idle_minutes=table.integer("idle_minutes", 30, low=1, high=480),
        failures_per_login=table.integer("failures_per_login", 10, low=1, high=1000),
        failures_per_address=table.integer("failures_per_address", 100, low=1, high=100000),
        throttle_minutes=table.integer("throttle_minutes", 15, low=1, high=1440),
    )
    table.done()
    return settings


def _load_schools(root: Path, problems: list[str]) -> list[School]:
    schools_dir = root / "schools"
    files = sorted(schools_dir.glob("*.toml")) if schools_dir.is_dir() else []
    if not files:
        problems.append(f"{schools_dir}: no school files (schools/<id>.toml)")
    schools: list[School] = []
    first_file_of_id: dict[str, Path] = {}
    server_names: dict[str, Path] = {}
    for file in files:
        data = _read_toml(file, problems)
        if data is None:
            continue
        school = _load_school(_Table(data, file, "", problems), root)
        if school is None:
            continue
        if school.id in first_file_of_id:
            problems.append(
                f"{file}: id: duplicate school id {school.id!r} (also in {first_file_of_id[school.id]})"
            )
            continue
        first_file_of_id[school.id] = file
        if file.stem != school.id:
            problems.append(
                f"{file}: id: the file of school {school.id!r} must be named {school.id}.toml "
                "(one school, one file, found by its id)"
            )
        for server in school.servers:
            if server.name in server_names:
                problems.append(
                    f"{file}: servers: duplicate server name {server.name!r} "
                    f"(also in {server_names[server.name]})"
                )
            server_names[server.name] = file
        schools.append(school)
    return schools


def _load_school(table: _Table, root: Path) -> School | None:
    before = len(table.problems)
    raw_id = table.data.get("id")
    school_id = table.string("id", required=True, pattern=SCHOOL_ID_PATTERN)
    if school_id is None and isinstance(raw_id, str) and raw_id.strip():
        suggestion = suggest_school_id(raw_id)
        table.problems[-1] = (
            f"{table.file}: id: {raw_id!r} is not a valid school id (lower-case a-z, 0-9 and '-', "
            f"3 to 32 characters)" + (f"; use {suggestion!r}" if suggestion else "")
        )
    name = table.string("name", "", required=True)
    school_type = table.string("type", "", required=True, choices=SCHOOL_TYPES)
    identity = table.string("identity", "source-id", choices=IDENTITIES)
    require_class = table.boolean("require_class", False)
    rosters = tuple(_load_roster(item, root) for item in table.array_of_tables("rosters"))
    if not rosters:
        table.problem("rosters", "missing (expected at least one [[rosters]] table)")
    servers = tuple(_load_server(item, school_id or "") for item in table.array_of_tables("servers"))
    network_table = table.table("network")
    network = _load_network(network_table) if network_table.data else None
    network_table.done()
    school_vars = table.free_table("vars")
    teacher_classes = _load_teacher_classes(table)
    table.done()
    if len(table.problems) > before or school_id is None:
        return None
    return School(
        id=school_id,
        name=name,
        type=school_type,
        identity=identity,
        rosters=rosters,
        servers=servers,
        network=network,
        vars=school_vars,
        file=table.file,
        teacher_classes=teacher_classes,
        require_class=require_class,
    )


def _load_teacher_classes(table: _Table) -> dict[str, tuple[str, ...]]:
    """``[teacher_classes]``: ``"<teacher's source id>" = ["5a", "6b"]``; every class name checked."""
    from schulit.rosters.common import normalise_class

    result = {}
    for source_id, classes in table.free_table("teacher_classes").items():
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            table.problem(f"teacher_classes.{source_id}", "expected a list of class names")
            continue
        normalised = [normalise_class(c) for c in classes]
        for raw, name in zip(classes, normalised, strict=True):
            if name is None:
                table.problem(f"teacher_classes.{source_id}", f"unknown class format {raw!r}")
        result[source_id] = tuple(sorted({n for n in normalised if n}))
    return result


def _load_roster(table: _Table, root: Path) -> RosterSource:
    # A missing file is not an inventory error: that school's sync fails (the others go on) and rendering its
    # configs, which reads the directory, still works; ``inventory check`` reports it.
    path = table.path("path", root, required=True)
    roster_format = table.string("format", "csv", choices=ROSTER_FORMATS)
    role = table.string("role", "pupil" if roster_format == "csv" else "mixed", choices=ROSTER_ROLES)
    delimiter = table.string("delimiter", "auto")
    if delimiter not in ("auto", ";", ",", "\t", "|"):
        table.problem("delimiter", f"expected auto, ';', ',', '|' or a tab, got {delimiter!r}")
    preset = table.string("preset")
    if preset is not None:
        from schulit.rosters.presets import check_preset

        try:
            check_preset(preset)
        except ValueError as exc:
            table.problem("preset", str(exc))
    source = RosterSource(
        path=path or Path(),
        format=roster_format,
        role=role,
        encoding=table.string("encoding", "auto"),
        delimiter=delimiter,
        columns=_roster_columns(table),
        preset=preset,
        origin=f"{table.file}: {table.where}",
    )
    table.done()
    return source


def _roster_columns(table: _Table) -> dict[str, str]:
    """``[rosters.columns]``: field name → header; an unknown field name is a problem, not ignored."""
    columns = table.string_map("columns")
    for name in columns:
        if name not in ROSTER_FIELDS:
            table.problems.append(
                f"{table.file}: {table.where}.columns.{name}: unknown field "
                f"(known: {', '.join(ROSTER_FIELDS)})"
            )
    return columns


def _load_server(table: _Table, school_id: str) -> Server:
    name = table.string("name", "", required=True, pattern=HOST_NAME_PATTERN)
    address = table.string("address", "", required=True)
    if address:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            if not HOST_NAME_PATTERN.match(address):
                table.problem("address", f"expected an IP address or host name, got {address!r}")
    roles = table.string_list("roles")
    if not roles:
        table.problem("roles", 'missing (expected a list of roles, e.g. ["fileserver"])')
    server = Server(
        name=name,
        school_id=school_id,
        address=address,
        port=table.integer("port", 22, low=1, high=65535),
        user=table.string("user", "root"),
        roles=tuple(roles),
        host_key=table.string("host_key"),
        root=table.string("root", "/"),
        handler_commands=table.string_map("handler_commands"),
        validate_commands=table.string_map("validate_commands"),
        vars=table.free_table("vars"),
    )
    if not server.root.startswith("/"):
        table.problem("root", f"expected an absolute path on the server, got {server.root!r}")
    table.done()
    return server


def _load_network(table: _Table) -> Network:
    subnet = table.string("subnet", "", required=True)
    network = None
    try:
        network = ipaddress.ip_network(subnet) if subnet else None
    except ValueError:
        table.problem("subnet", f"expected a network like 10.1.2.0/24, got {subnet!r}")

    def address_in_subnet(key: str, value: str | None) -> str:
        if not value:
            return ""
        try:
            parsed = ipaddress.ip_address(value)
        except ValueError:
            table.problem(key, f"expected an IP address, got {value!r}")
            return value
        if network is not None and parsed not in network:
            table.problem(key, f"{value} is not in {subnet}")
        return value

    devices = []
    for item in table.array_of_tables("devices"):
        mac = (item.string("mac", "", required=True) or "").lower()
        if mac and not MAC_PATTERN.match(mac):
            item.problem("mac", f"expected a MAC address like 52:54:00:12:34:56, got {mac!r}")
        device = Device(
            name=item.string("name", "", required=True, pattern=HOST_NAME_PATTERN),
            mac=mac,
            ip=item.string("ip", "", required=True),
        )
        item.done()
        address_in_subnet(f"devices.{device.name}.ip", device.ip)
        devices.append(device)
    result = Network(
        subnet=subnet,
        gateway=address_in_subnet("gateway", table.string("gateway", "", required=True)),
        dns_domain=table.string("dns_domain", "", required=True),
        dhcp_start=address_in_subnet("dhcp_start", table.string("dhcp_start", "", required=True)),
        dhcp_end=address_in_subnet("dhcp_end", table.string("dhcp_end", "", required=True)),
        dns_servers=tuple(table.string_list("dns_servers")),
        devices=tuple(devices),
    )
    return result
