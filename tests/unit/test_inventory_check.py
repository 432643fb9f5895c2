"""``inventory check`` reads every roster and renders every server's templates; load-time checks of ids."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from schulit.cli import cli
from schulit.errors import InventoryError
from schulit.inventory import load_inventory, suggest_school_id
from schulit.records import ROSTER_FIELDS
from schulit.rosters.csvreader import HEADER_ALIASES
from tests.helpers.inventory import write_inventory

SERVER = """
[[servers]]
name = "fs1.{school}"
address = "127.0.0.1"
roles = ["{role}"]
"""


def check(root: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--inventory", str(root), "inventory", "check", *args])


def set_templates_dir(root: Path, folder: Path) -> None:
    county = root / "county.toml"
    county.write_text(re.sub(r'(?m)^dir = ".*"$', f'dir = "{folder}"', county.read_text()))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = write_inventory(tmp_path / "inv")
    with (root / "schools" / "gs-a.toml").open("a") as handle:
        handle.write(SERVER.format(school="gs-a", role="fileserver"))
    return root


def test_a_good_inventory_reports_counts_and_renders(root: Path) -> None:
    result = check(root)
    assert result.exit_code == 0, result.output
    assert "2 pupils in   2 classes" in result.stdout and "inventory ok" in result.stdout
    document = json.loads(check(root, "--json").stdout)
    school = document["schools"][0]
    assert school["counts"] == {"pupils": 2, "teachers": 0, "classes": 2, "rejected": 0}
    assert document["ok"] is True and document["problems"] == []
    assert [s["name"] for s in school["servers"]] == ["fs1.gs-a"]


def test_a_bad_roster_row_is_reported_with_file_line_and_field(root: Path) -> None:
    roster = root / "rosters" / "gs-b.csv"
    roster.write_bytes(roster.read_bytes() + b"1003;;Mia;2a\r\n1004;Nowak;Ida;%%\r\n")
    result = check(root)
    assert result.exit_code == 1
    assert f"{roster}:4: last_name: empty name" in result.stderr
    assert f"{roster}:5: class_name: unknown class format '%%'" in result.stderr
    assert "2 rejected rows" in result.stdout and "inventory check: 2 problems" in result.stderr
    document = json.loads(check(root, "--json").stdout)
    assert document["ok"] is False and document["schools"][1]["counts"]["rejected"] == 2


def test_an_unreadable_roster_header_is_reported(root: Path) -> None:
    (root / "rosters" / "gs-a.csv").write_text("Spalte1;Spalte2\nx;y\n", encoding="utf-8")
    result = check(root)
    assert result.exit_code == 1 and "gs-a.csv:1: source_id: no column for" in result.stderr


def test_a_missing_template_set_is_reported(root: Path) -> None:
    with (root / "schools" / "gs-b.toml").open("a") as handle:
        handle.write(SERVER.format(school="gs-b", role="printserver"))
    result = check(root)
    assert result.exit_code == 1
    assert "gs-b.toml: servers.fs1.gs-b.roles:" in result.stderr
    assert "no template set for role 'printserver'" in result.stderr


def test_a_template_that_does_not_render_is_reported(root: Path, tmp_path: Path) -> None:
    templates = tmp_path / "templates" / "fileserver"
    templates.mkdir(parents=True)
    (templates / "files.toml").write_text(
        '[[files]]\nname = "motd"\ntemplate = "motd.j2"\ndest = "/etc/motd"\n'
    )
    (templates / "motd.j2").write_text("Schule {{ school.name }}\n{{ school.nickname }}\n")
    set_templates_dir(root, tmp_path / "templates")
    result = check(root)
    assert result.exit_code == 1 and "motd.j2:2:" in result.stderr and "nickname" in result.stderr


def test_a_templates_dir_that_does_not_exist_is_reported(root: Path) -> None:
    set_templates_dir(root, Path("/nonexistent/templates"))
    result = check(root)
    assert (
        result.exit_code == 1 and "templates.dir: folder not found: /nonexistent/templates" in result.stderr
    )


def test_unknown_columns_field_is_refused(root: Path) -> None:
    text = (root / "schools" / "gs-a.toml").read_text()
    (root / "schools" / "gs-a.toml").write_text(
        text.replace('role = "pupil"\n', 'role = "pupil"\n[rosters.columns]\nklasse = "Klasse"\n', 1)
    )
    with pytest.raises(
        InventoryError, match=r"rosters\[0\]\.columns\.klasse: unknown field \(known: source_id"
    ):
        load_inventory(root)


def test_school_file_named_other_than_its_id_is_refused(root: Path) -> None:
    (root / "schools" / "gs-a.toml").rename(root / "schools" / "grundschule-a.toml")
    with pytest.raises(InventoryError, match=r"grundschule-a\.toml: id: .* must be named gs-a\.toml"):
        load_inventory(root)


def test_an_invalid_school_id_gets_a_suggestion(root: Path) -> None:
    path = root / "schools" / "gs-a.toml"
    path.write_text(path.read_text().replace('id = "gs-a"', 'id = "gs-testdörf"'))
    with pytest.raises(
        InventoryError, match=r"'gs-testdörf' is not a valid school id .*; use 'gs-testdoerf'"
    ):
        load_inventory(root)


@pytest.mark.parametrize(
    ("raw", "suggestion"),
    [
        ("GS Testdörf", "gs-testdoerf"),
        ("gym_bispingen", "gym-bispingen"),
        ("obs--Straße ", "obs-strasse"),
        ("ü", ""),
    ],
)
def test_suggest_school_id(raw: str, suggestion: str) -> None:
    assert suggest_school_id(raw) == suggestion


def test_roster_fields_are_the_readers_fields() -> None:
    assert set(ROSTER_FIELDS) == set(HEADER_ALIASES)
