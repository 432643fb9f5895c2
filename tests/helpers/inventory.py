"""Write minimal, valid inventories into a temp dir; tests then break or extend them."""

from __future__ import annotations

from pathlib import Path

COUNTY_TOML = """\
[county]
name = "Testkreis"
short_name = "lk-test"

[directory]
url = "{url}"
base_dn = "{base_dn}"
bind_dn = "{bind_dn}"
password_file = "{password_file}"
allow_plaintext_loopback = true

[passwords]
delivery_dir = "{delivery_dir}"

[templates]
dir = "{templates_dir}"
"""

SCHOOL_TOML = """\
id = "{school_id}"
name = "Grundschule {school_id}"
type = "Grundschule"

[[rosters]]
path = "rosters/{school_id}.csv"
format = "csv"
role = "pupil"
"""

ROSTER_CSV = "Interne ID-Nummer;Nachname;Vorname;Klasse\r\n1001;Müller;Lea;1a\r\n1002;Öztürk;Emre;1b\r\n"


def write_inventory(
    root: Path,
    *,
    url: str = "ldap://127.0.0.1:1",
    base_dn: str = "dc=lk-test,dc=example",
    bind_dn: str | None = None,
    password_file: Path | None = None,
    school_ids: tuple[str, ...] = ("gs-a", "gs-b"),
    templates_dir: Path | None = None,
) -> Path:
    """Create county.toml, schools/<id>.toml and a small roster per school; return ``root``."""
    (root / "schools").mkdir(parents=True, exist_ok=True)
    (root / "rosters").mkdir(exist_ok=True)
    (root / "county.toml").write_text(
        COUNTY_TOML.format(
            url=url,
            base_dn=base_dn,
            bind_dn=bind_dn or f"cn=admin,{base_dn}",
            password_file=password_file or (root / "bind.password"),
            delivery_dir=root / "passwords",
            templates_dir=templates_dir or Path(__file__).resolve().parents[2] / "templates",
        ),
        encoding="utf-8",
    )
    for school_id in school_ids:
        (root / "schools" / f"{school_id}.toml").write_text(
            SCHOOL_TOML.format(school_id=school_id), encoding="utf-8"
        )
        (root / "rosters" / f"{school_id}.csv").write_bytes(ROSTER_CSV.encode("cp1252"))
    return root
