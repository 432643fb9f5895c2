"""Keys of name+birthdate schools: HMAC under the county secret, versioned, old keys recognised."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from schulit.rosters.namekey import (
    NameKeyError,
    NameKeys,
    create_name_key_file,
    legacy_source_id,
    load_name_keys,
)

KEYS = NameKeys(b"s" * 32)
BORN = date(2015, 2, 1)


def test_two_cyrillic_names_born_the_same_day_have_two_keys_without_the_date() -> None:
    first = KEYS.source_id("gs-a", "Олександр", "Шевченко", BORN)
    second = KEYS.source_id("gs-a", "Андрій", "Шевченко", BORN)
    assert first != second
    assert legacy_source_id("Олександр", "Шевченко", BORN) == legacy_source_id("Андрій", "Шевченко", BORN)
    for key in (first, second):
        assert key.startswith("nbd2:") and "2015" not in key and "01.02" not in key
    # only equality of the birth date is visible, and only within one school
    assert first.rsplit(".", 1)[1] == second.rsplit(".", 1)[1] == KEYS.birth_token("gs-a", BORN)
    assert KEYS.birth_token("gs-b", BORN) != KEYS.birth_token("gs-a", BORN)


def test_names_are_compared_nfc_and_casefolded_not_ascii_folded() -> None:
    nfd = "Mu\u0308ller"
    assert KEYS.source_id("gs-a", "Lea", nfd, BORN) == KEYS.source_id("gs-a", "LEA", "Müller", BORN)
    assert KEYS.source_id("gs-a", "Lea", "Müller", BORN) != KEYS.source_id("gs-a", "Lea", "Muller", BORN)
    assert KEYS.source_id("gs-a", "Lea", "Müller", BORN) != NameKeys(b"t" * 32).source_id(
        "gs-a", "Lea", "Müller", BORN
    )


def test_legacy_keys_are_the_ones_schulit_wrote_before() -> None:
    assert legacy_source_id("Karl-Heinz", "Lüders", date(2018, 1, 10)) == "nbd:lueders|karl-heinz|2018-01-10"
    assert legacy_source_id("Ærø", "Øster", BORN) == "nbd:oster|aero|2015-02-01"
    assert KEYS.birth_token_of("gs-a", "nbd:lueders|karl-heinz|2015-02-01") == KEYS.birth_token("gs-a", BORN)
    assert KEYS.birth_token_of("gs-a", KEYS.source_id("gs-a", "A", "B", BORN)) == KEYS.birth_token(
        "gs-a", BORN
    )
    assert KEYS.birth_token_of("gs-a", "4711") is None


def test_key_file_is_created_private_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "name-key"
    assert create_name_key_file(path) is True
    assert create_name_key_file(path) is False  # never replaced
    assert (path.stat().st_mode & 0o777) == 0o600
    assert len(load_name_keys(path).secret) >= 32
    os.chmod(path, 0o640)
    with pytest.raises(NameKeyError, match="must not be readable by others"):
        load_name_keys(path)
    short = tmp_path / "short"
    short.write_bytes(b"abc")
    os.chmod(short, 0o600)
    with pytest.raises(NameKeyError, match="holds 3 bytes; it needs 16"):
        load_name_keys(short)
    with pytest.raises(NameKeyError, match="name_key_file"):
        load_name_keys(None)
    with pytest.raises(NameKeyError, match="cannot read the name key file"):
        load_name_keys(tmp_path / "missing")


def test_a_name_and_birthdate_school_needs_the_key_file_setting(tmp_path: Path) -> None:
    from schulit.errors import InventoryError
    from schulit.inventory import load_inventory
    from tests.helpers.inventory import write_inventory

    root = write_inventory(tmp_path / "inv")
    school = root / "schools" / "gs-a.toml"
    school.write_text(
        school.read_text(encoding="utf-8").replace(
            'type = "Grundschule"', 'type = "Grundschule"\nidentity = "name+birthdate"\nrequire_class = true'
        ),
        encoding="utf-8",
    )
    with pytest.raises(InventoryError, match=r"identity\.name_key_file: missing .*gs-a are matched by name"):
        load_inventory(root)
    county = root / "county.toml"
    county.write_text(
        county.read_text(encoding="utf-8") + f'\n[identity]\nname_key_file = "{tmp_path / "key"}"\n',
        encoding="utf-8",
    )
    inventory = load_inventory(root)
    assert inventory.identity.name_key_file == tmp_path / "key"
    assert inventory.school("gs-a").require_class is True
