"""Login names (SPEC §4): transliteration, scheme, particles, double names, length cap, collision counter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from schulit.naming import NamingPolicy, allocate_login, login_base, transliterate

DEFAULT = NamingPolicy()
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ä ö ü Ä Ö Ü ß", "ae oe ue Ae Oe Ue ss"),
        ("Weiß", "Weiss"),
        ("Öztürk", "Oeztuerk"),
        ("Ğül Yıldız", "Guel Yildiz"),
        ("ğ", "g"),
        ("Łukasz Wąsowski", "Lukasz Wasowski"),
        ("ł", "l"),
        ("Nguyễn Thị Ngọc", "Nguyen Thi Ngoc"),
        ("ễ", "e"),
        ("Ærø Æsop", "Aero Aesop"),
        ("æ ø", "ae o"),
        ("Çelik Şahin", "Celik Sahin"),
        ("Đặng", "Dang"),
        ("Mu\u0308ller", "Mueller"),  # decomposed (NFD) umlaut, as macOS writes it
        ("ẞ", "SS"),
        ("Zoë Brontë", "Zoe Bronte"),  # a diaeresis that is not a German umlaut still folds ("ë" → "e")
        ("李小龙", "LiXiaoLong"),  # other scripts romanised (anyascii)
        ("Олександр Шевченко", "Oleksandr Shevchenko"),
        ("\ue000", ""),  # private use: nothing left
    ],
)
def test_transliterate(text: str, expected: str) -> None:
    assert transliterate(text) == expected
    assert transliterate(text).isascii()


@pytest.mark.parametrize(
    ("first", "last", "login"),
    [
        ("Jürgen", "Weiß", "juergen.weiss"),
        ("Ayşe", "Öztürk", "ayse.oeztuerk"),
        ("Łucja", "Wąsowski", "lucja.wasowski"),
        ("Ngọc", "Nguyễn", "ngoc.nguyen"),
        ("Søren", "Æbelø", "soren.aebelo"),
        ("Paula", "von der Heide", "paula.vonderheide"),  # particles kept, spaces dropped
        ("Jan", "van 't Hof", "jan.vanthof"),
        ("Sean", "O'Brien", "sean.obrien"),
        ("Anna Lena", "Schmidt", "anna.schmidt"),  # two first names: the first one
        ("  Lea   Sophie ", "Schulz", "lea.schulz"),
        ("Anna-Lena", "Schmidt", "annalena.schmidt"),  # a hyphenated first name is one name
        ("Jürgen", "Müller-Lüdenscheidt", "juergen.muellerlue"),  # double name, cut to 18
        ("KARL", "MEYER", "karl.meyer"),
        ("", "Meyer", "meyer"),  # no first name: no dangling dot
        ("Anna", "", "anna"),
        ("李", "王", "li.wang"),  # romanised by anyascii
        ("Олександр", "Шевченко", "oleksandr.shevchen"),  # cut to 18 (max_length 20 - 2)
        ("\ue000", "\ue001", "user"),  # nothing left at all
        ("", "", "user"),
    ],
)
def test_login_base_default_scheme(first: str, last: str, login: str) -> None:
    assert login_base(first, last, DEFAULT) == login


def test_length_cap_leaves_room_for_a_counter() -> None:
    login = login_base("Maximilian", "Müller-Lüdenscheidt-Oberhausen", DEFAULT)
    assert login == "maximilian.mueller"
    long_first = login_base("Maximilianaugustinus", "Meier", DEFAULT)
    assert long_first == "maximilianaugustin" and len(long_first) == 18
    # Cut at a dot: the dot is dropped, never left at the end.
    assert login_base("Bartholomae", "Xu", NamingPolicy("{first}.{last}", 14)) == "bartholomae"


def test_transliteration_happens_before_the_cut() -> None:
    # "Ö" must become "oe" before cutting; a cut through "Ö" must never leave a lone "o".
    login = login_base("Ömer", "Öğretmenoğlu-Özdemir", NamingPolicy("{first}.{last}", 14))
    assert login == "oemer.oegret"
    assert login_base("Öle", "Bär", DEFAULT) == "oele.baer"


@pytest.mark.parametrize(
    ("scheme", "max_length", "login"),
    [
        ("{f}{last}", 20, "jmuellerluedensche"),
        ("{last}.{first}", 20, "muellerlue.juergen"),
        ("{first}{last}", 20, "juergenmuellerlued"),
        ("{f}.{last}", 8, "j.muel"),
        ("{first}", 20, "juergen"),
        ("{first}_{last}", 20, "juergenmuellerlue"),  # characters outside a-z0-9.- are dropped
    ],
)
def test_other_schemes(scheme: str, max_length: int, login: str) -> None:
    result = login_base("Jürgen", "Müller-Lüdenscheidt", NamingPolicy(scheme, max_length))
    assert result == login
    assert len(result) <= max_length - 2


def test_allocate_login_counter() -> None:
    taken: set[str] = set()
    logins = []
    for _ in range(12):
        login = allocate_login("anna.mueller", taken.__contains__, 20)
        taken.add(login)
        logins.append(login)
    assert logins[:4] == ["anna.mueller", "anna.mueller2", "anna.mueller3", "anna.mueller4"]
    assert logins[-1] == "anna.mueller12"
    assert len(set(logins)) == 12


def test_allocate_login_stays_within_the_cap() -> None:
    base = login_base("Jürgen", "Müller-Lüdenscheidt", DEFAULT)
    taken = {base} | {f"{base}{n}" for n in range(2, 100)}
    # Counter 100 needs three digits: the stem gets one character shorter.
    assert allocate_login(base, taken.__contains__, 20) == "juergen.muellerlu100"
    # A stem that would end in "." or "-" loses it.
    assert (
        allocate_login("abcdefghijklmnop.x", {"abcdefghijklmnop.x"}.__contains__, 18) == "abcdefghijklmnop2"
    )
    free = allocate_login("anna.mueller", lambda login: False, 20)
    assert free == "anna.mueller"


def test_distinct_people_with_the_same_name_get_distinct_logins() -> None:
    taken: set[str] = set()
    names = [("Anna", "Müller"), ("Anna", "Mueller"), ("Anna", "Müller"), ("Anna Maria", "Müller")]
    logins = []
    for first, last in names:
        login = allocate_login(login_base(first, last, DEFAULT), taken.__contains__, DEFAULT.max_length)
        taken.add(login)
        logins.append(login)
    assert logins == ["anna.mueller", "anna.mueller2", "anna.mueller3", "anna.mueller4"]


def test_naming_is_deterministic_across_processes() -> None:
    # Same input, same login, whatever the hash seed (no set/dict ordering leaks into names).
    code = (
        "from schulit.naming import NamingPolicy, login_base\n"
        "names = [('Jürgen','Müller-Lüdenscheidt'),('Ngọc','Nguyễn'),('Anna Lena','von der Heide'),('','')]\n"
        "print([login_base(f, l, NamingPolicy()) for f, l in names])\n"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        outputs.add(run.stdout)
    assert outputs == {"['juergen.muellerlue', 'ngoc.nguyen', 'anna.vonderheide', 'user']\n"}
    assert login_base("Ngọc", "Nguyễn", DEFAULT) == login_base("Ngọc", "Nguyễn", DEFAULT)
