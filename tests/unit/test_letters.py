"""Password letters: real PDFs, read back with poppler's pdftotext and rendered with pdftoppm."""

from __future__ import annotations

import re
import stat
import subprocess
from datetime import date
from pathlib import Path

import pytest

from schulit.delivery import DeliveryRecord, delivery_files, read_delivery, write_delivery
from schulit.errors import SchulitError
from schulit.inventory import load_inventory
from schulit.letters import LetterText, build_pdf, write_letters
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
    for word in ("Özdemir", "Weiß", "Wąsowski", "Nguyễn", "Lehrkraft"):
        assert word in text
    pages = tmp_path / "page"
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(target), str(pages)], check=True)
    images = sorted(tmp_path.glob("page-*.png"))
    # 5a: cover + one page of 3 slips; 5b: cover + slip; the teacher: a slip page without a cover sheet
    assert len(images) == 5
    assert all(image.stat().st_size > 1000 for image in images)


def test_cover_sheet_lists_logins_but_no_passwords(tmp_path: Path) -> None:
    target = tmp_path / "letters.pdf"
    build_pdf(records(), {"gs-a": "Grundschule A"}, target, date(2026, 8, 1))
    cover = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", str(target), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Klasse 5a" in cover and "elif.oezdemir" in cover
    assert "Kp7x" not in cover and "thi.nguyen" not in cover


def test_one_class_then_the_rest_prints_nothing_twice(tmp_path: Path) -> None:
    root = write_inventory(tmp_path / "inv", school_ids=("gs-a",))
    roster = "ID;Nachname;Vorname;Klasse\n1;Weiß;Jonas;05a\n2;Nguyễn;Ánh;5b\n"
    (root / "rosters" / "gs-a.csv").write_text(roster, encoding="utf-8")
    inventory = load_inventory(root)
    path = write_delivery(inventory.passwords.delivery_dir, "gs-a", records())
    assert path is not None
    target = tmp_path / "5a.pdf"
    result = write_letters(inventory, target, school="gs-a", class_name="05a", shred=True)
    text = pdf_text(target)
    assert "elif.oezdemir" in text and "thi.nguyen" not in text and "anja.schroeder" not in text
    assert "Zugangsdaten Klasse 05a" in text and "Klasse 05a" in text.split("Benutzername:")[1], "as exported"
    assert result.letters == 3 and result.shredded == [] and result.marked == [path]
    kept = path.read_text(encoding="utf-8")
    assert "Kp7xWq2mRt" not in kept and "elif.oezdemir" not in kept, "printed passwords are removed"
    assert "thi.nguyen" in kept and stat.S_IMODE(path.stat().st_mode) == 0o600
    again = write_letters(inventory, tmp_path / "again.pdf", school="gs-a", class_name="5a", shred=True)
    assert again.pdf is None and not (tmp_path / "again.pdf").exists()
    rest = write_letters(inventory, tmp_path / "rest.pdf", school="gs-a", shred=True)
    assert rest.letters == 2 and rest.shredded == [path]
    assert delivery_files(inventory.passwords.delivery_dir) == []
    nothing = write_letters(inventory, tmp_path / "none.pdf")
    assert nothing.pdf is None and not (tmp_path / "none.pdf").exists()


def test_printed_without_shred_is_marked_and_can_be_reprinted(tmp_path: Path) -> None:
    root = write_inventory(tmp_path / "inv", school_ids=("gs-a",))
    inventory = load_inventory(root)
    path = write_delivery(inventory.passwords.delivery_dir, "gs-a", records())
    assert path is not None
    first = write_letters(inventory, tmp_path / "all.pdf")
    assert first.letters == 5 and first.marked == [path]
    assert [r.printed_at != "" for r in read_delivery(path)] == [True] * 5
    assert write_letters(inventory, tmp_path / "second.pdf").pdf is None
    again = write_letters(inventory, tmp_path / "re.pdf", reprint=["jonas.weiss"])
    assert again.letters == 1 and "jonas.weiss" in pdf_text(tmp_path / "re.pdf")
    write_letters(inventory, tmp_path / "shred.pdf", reprint=["thi.nguyen"], shred=True)
    with pytest.raises(SchulitError, match=r"thi\.nguyen"):
        write_letters(inventory, tmp_path / "gone.pdf", reprint=["thi.nguyen"])


def test_unknown_class_is_an_error(tmp_path: Path) -> None:
    root = write_inventory(tmp_path / "inv", school_ids=("gs-a",))
    inventory = load_inventory(root)
    write_delivery(inventory.passwords.delivery_dir, "gs-a", records())
    with pytest.raises(SchulitError, match="no such class"):
        write_letters(inventory, tmp_path / "x.pdf", school="gs-a", class_name="9z")
    # a class of the roster without pending letters is known: nothing to print, no error
    assert write_letters(inventory, tmp_path / "y.pdf", school="gs-a", class_name="1b").pdf is None


WORDS_DU = re.compile(r"\b(du|dich|dir|dein|deine|deinen|deinem|deiner)\b", re.IGNORECASE)


def page_texts(path: Path) -> list[str]:
    return pdf_text(path).split("\f")


def test_pupils_read_du_teachers_read_sie_with_the_countys_words(tmp_path: Path) -> None:
    text = LetterText(portal="https://portal.lk-test.example", helpdesk="dem IT-Service (Tel. 04131 123)")
    target = tmp_path / "letters.pdf"
    build_pdf(records(), {"gs-a": "Grundschule A"}, target, date(2026, 8, 1), text)
    pages = [p for p in page_texts(target) if p.strip()]
    teacher_pages = [p for p in pages if "anja.schroeder" in p]
    pupil_pages = [p for p in pages if "elif.oezdemir" in p and "Passwort:" in p]
    assert len(teacher_pages) == 1 and len(pupil_pages) == 1
    assert not WORDS_DU.search(teacher_pages[0]), teacher_pages[0]
    assert "Sie" in teacher_pages[0] and "Klassenleitung" not in teacher_pages[0]
    assert WORDS_DU.search(pupil_pages[0]) and "Frag deine Klassenleitung" in pupil_pages[0]
    for page in (teacher_pages[0], pupil_pages[0]):
        assert "https://portal.lk-test.example" in page and "IT-Service" in page
        assert "ersten Anmeld" not in page, "OpenLDAP sets no forced change: no such promise"
    covers = [p for p in pages if "Deckblatt" in p]
    assert len(covers) == 2 and all("Lehrkr" not in p for p in covers)
    assert "3 Zugänge" in covers[0] and "1 Zugang\n" in covers[1] + "\n"


def test_first_logon_sentence_where_enforced_and_own_wording(tmp_path: Path) -> None:
    text = LetterText(
        first_logon_change=True,
        pupil_text=("Melde dich bei {portal} an.",),
        portal="https://p.example",
    )
    lines_teacher = text.lines("teacher")
    assert any("ersten Anmeldung" in line for line in lines_teacher)
    assert text.lines("pupil") == ["Melde dich bei https://p.example an."]


def test_logo_from_the_inventory_is_drawn(tmp_path: Path) -> None:
    from PIL import Image

    logo = tmp_path / "logo.png"
    Image.new("RGB", (200, 80), (200, 30, 30)).save(logo)
    plain, with_logo = tmp_path / "plain.pdf", tmp_path / "logo.pdf"
    build_pdf(records()[:1], {}, plain, date(2026, 8, 1))
    build_pdf(records()[:1], {}, with_logo, date(2026, 8, 1), LetterText(logo=logo))
    listing = subprocess.run(["pdfimages", "-list", str(with_logo)], capture_output=True, text=True).stdout
    assert "image" in listing
    assert "image" not in subprocess.run(
        ["pdfimages", "-list", str(plain)], capture_output=True, text=True
    ).stdout
