"""Password letters: real PDFs, read back with poppler's pdftotext and rendered with pdftoppm."""

from __future__ import annotations

import stat
import subprocess
from datetime import date
from pathlib import Path

from schulit.delivery import DeliveryRecord, delivery_files, write_delivery
from schulit.inventory import load_inventory
from schulit.letters import build_pdf, write_letters
from tests.helpers.inventory import write_inventory

PEOPLE = [
    ("5a", "Özdemir", "Elif", "elif.oezdemir", "Kp7xWq2mRt"),
    ("5a", "Weiß", "Jonas", "jonas.weiss", "Hn4cVb8sQe"),
    ("5a", "Wąsowski", "Łukasz", "lukasz.wasowski", "Gm3dTr9kPa"),
    ("5b", "Nguyễn", "Thị Ánh", "thi.nguyen", "Fw6hNj2uXc"),
    ("", "Schröder", "Anja", "anja.schroeder", "Ds5gLk7pMv"),
]


def records(school: str = "gs-a") -> list[DeliveryRecord]:
    return [
        DeliveryRecord(
            school,
            "Grundschule A",
            klass,
            "pupil" if klass else "teacher",
            login,
            first,
            last,
            password,
            "new",
            "2026-08-01T07:00:00+00:00",
        )
        for klass, last, first, login, password in PEOPLE
    ]


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_pdf_has_every_login_and_password_and_keeps_diacritics(tmp_path: Path) -> None:
    target = tmp_path / "letters.pdf"
    result = build_pdf(records(), {"gs-a": "Grundschule A"}, target, date(2026, 8, 1))
    assert result.letters == 5
    assert [(s, c) for s, c, _ in result.sections] == [("gs-a", "5a"), ("gs-a", "5b"), ("gs-a", "Lehrkräfte")]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    text = pdf_text(target)
    for _klass, last, first, login, password in PEOPLE:
        assert login in text
        assert " ".join(password[i : i + 4] for i in range(0, len(password), 4)) in text
        assert last in text and first in text
    for word in ("Özdemir", "Weiß", "Wąsowski", "Nguyễn", "Lehrkräfte"):
        assert word in text
    pages = tmp_path / "page"
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(target), str(pages)], check=True)
    images = sorted(tmp_path.glob("page-*.png"))
    assert (
        len(images) == 6
    )  # 3 cover sheets + 2 slip pages for 5a... (3 slips fit on one page) + 5b + teachers
    assert all(image.stat().st_size > 1000 for image in images)


def test_cover_sheet_lists_logins_but_no_passwords(tmp_path: Path) -> None:
    target = tmp_path / "letters.pdf"
    build_pdf(records(), {"gs-a": "Grundschule A"}, target, date(2026, 8, 1))
    cover = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", str(target), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Klasse 5a" in cover and "elif.oezdemir" in cover
    assert "Kp7x" not in cover and "thi.nguyen" not in cover


def test_one_class_only_and_shredding(tmp_path: Path) -> None:
    root = write_inventory(tmp_path / "inv", school_ids=("gs-a",))
    inventory = load_inventory(root)
    path = write_delivery(inventory.passwords.delivery_dir, "gs-a", records())
    assert path is not None
    target = tmp_path / "5a.pdf"
    result = write_letters(inventory, target, school="gs-a", class_name="5a", shred=True)
    text = pdf_text(target)
    assert "elif.oezdemir" in text and "thi.nguyen" not in text and "anja.schroeder" not in text
    assert result.shredded == [], "the file still holds 5b and the teacher: keep it"
    rest = write_letters(inventory, tmp_path / "rest.pdf", school="gs-a", shred=True)
    assert rest.letters == 5 and rest.shredded == [path]
    assert delivery_files(inventory.passwords.delivery_dir) == []
    nothing = write_letters(inventory, tmp_path / "none.pdf")
    assert nothing.pdf is None and not (tmp_path / "none.pdf").exists()
