"""Property-based fuzzing of the pure logic: roster readers, login names; plus hostile inputs.

Contract checked throughout: a roster either reads (persons + rejected rows, each
``file:line: field: problem``) or raises RosterError whose message starts with the file (and names the line
where a row is the problem); never any other exception. Logins are ASCII ``[a-z0-9]`` words joined by
``.``/``-``, within the cap, unique.
"""

from __future__ import annotations

import io
import os
import re
import time
import unicodedata
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from schulit.naming import NamingPolicy, allocate_login, login_base, transliterate
from schulit.records import RosterResult, RosterSource
from schulit.rosters import RosterError, read_roster

# SCHULIT_FUZZ_EXAMPLES=5000 for a deeper run; the default keeps this file at a few seconds.
FUZZ = settings(
    max_examples=int(os.environ.get("SCHULIT_FUZZ_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
LOGIN = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # what the reader refuses inside a field
REJECT = re.compile(r"^(?P<file>.+):(?P<line>[1-9]\d*): (?P<field>[a-z_]+): (?P<problem>.+)$")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def max_physical_lines(data: bytes) -> int:
    """An upper bound for the line numbers a reader may report for ``data``."""
    return data.count(b"\n") + data.count(b"\r") + 1


def check_result(result: RosterResult, file: str, data: bytes | None) -> None:
    bound = max_physical_lines(data) if data is not None else None
    for person in result.persons:
        where, _, line = person.origin.rpartition(":")
        assert where == file and int(line) >= 1
        assert bound is None or int(line) <= bound
        assert person.first_name and person.last_name and person.source_id
        assert not CONTROL.search(person.first_name + person.last_name + person.source_id)
    for rejected in result.rejected:
        match = REJECT.match(str(rejected))
        assert match is not None, str(rejected)
        assert rejected.file == file
        assert bound is None or rejected.line <= bound


def read_or_refuse(source: RosterSource, data: bytes | None, *, identity: str = "source-id") -> None:
    """Read ``source``; a RosterError must name the file (and a valid line if it names one)."""
    file = str(source.path)
    try:
        result = read_roster(source, "gs-fuzz", identity=identity)
    except RosterError as error:
        message = str(error)
        assert message.startswith(file), message
        # CSV: "file: ..." or "file:LINE: ..."; OneRoster: the same after "bundle/name" or "bundle.zip!name".
        where = re.match(r"^(?:[/!][^:]+)?(?::(?P<line>[1-9]\d*))?: \S", message[len(file) :])
        assert where is not None, message
        if where["line"] and data is not None:
            assert int(where["line"]) <= max_physical_lines(data), message
        return
    if source.format == "csv":
        check_result(result, file, data)
        return
    for person in result.persons:
        assert person.origin.startswith(file)
    for rejected in result.rejected:
        assert REJECT.match(str(rejected)) and rejected.file.startswith(file)


# ------------------------------------------------------------------------------- any bytes as a CSV roster

HEADERS = [
    b"",
    b"ID;Nachname;Vorname;Klasse;Geburtsdatum;Rolle\n",
    b"Interne ID-Nummer,Name,Rufname,Klasse\r\n",
    "\ufeffSchüler-ID\tNachname\tVorname\tKlasse\n".encode(),
    "Schülernummer;Name;Vorname;Klasse\n".encode("cp1252"),
    b'"Nachname";"Vorname";"Klasse";"Geburtsdatum"\n',
]
ROW_BYTES = st.lists(
    st.sampled_from(
        [b";", b",", b"\t", b'"', b"\n", b"\r\n", b"\r", b"5a", b"42", b"M\xfcller", b"\xc3\xa4", b" "]
    )
    | st.binary(max_size=6),
    max_size=40,
).map(b"".join)


@FUZZ
@given(
    header=st.sampled_from(HEADERS),
    body=ROW_BYTES | st.binary(max_size=300),
    encoding=st.sampled_from(["auto", "auto", "cp1252", "utf-8", "latin-1"]),
    role=st.sampled_from(["pupil", "teacher", "mixed"]),
    identity=st.sampled_from(["source-id", "name+birthdate"]),
)
def test_any_bytes_as_csv(
    scratch: Path, header: bytes, body: bytes, encoding: str, role: str, identity: str
) -> None:
    data = header + body
    path = scratch / "roster.csv"
    path.write_bytes(data)
    source = RosterSource(path=path, format="csv", role=role, encoding=encoding)
    read_or_refuse(source, data, identity=identity)


# --------------------------------------------------------------------------- round trip of generated CSVs

FIELD_CHARS = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
NAMES = st.one_of(
    st.text(FIELD_CHARS, max_size=12),
    st.text(st.sampled_from("äöüßÄÖÜ ğłễæø-'.aeAZ"), max_size=15),
    st.sampled_from(
        ["*)(uid=*", "a\\b", "Meyer, Hans", "x+y=z", '"Q"', "   ", "von der Heide", "\u2028", "a\nb"]
    ),
    st.text(st.sampled_from("ab"), min_size=198, max_size=203),
)
CLASSES = ["5a", "05b", "10c", "BFS IT1", "q1", "7/2", "Q2 "]


def expected_outcome(values: dict[str, str]) -> tuple[str, str] | None:
    """The (field, kind) a row must be rejected for, or None if it must be accepted (SPEC §3)."""
    for field in ("source_id", "last_name", "first_name", "class_name"):
        if CONTROL.search(values[field]) or len(values[field]) > 200:
            return field, "value"
    if not clean(values["first_name"]):
        return "first_name", "empty name"
    if not clean(values["last_name"]):
        return "last_name", "empty name"
    return None


def clean(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).split())


def csv_record(fields: list[str], delimiter: str, quote_all: bool, terminator: str) -> str:
    cells = []
    for field in fields:
        if quote_all or any(c in field for c in (delimiter, '"', "\r", "\n")):
            cells.append('"' + field.replace('"', '""') + '"')
        else:
            cells.append(field)
    return delimiter.join(cells) + terminator


@FUZZ
@given(
    rows=st.lists(st.tuples(NAMES, NAMES, st.sampled_from(CLASSES), st.booleans()), max_size=8),
    delimiter=st.sampled_from([";", ",", "\t"]),
    terminator=st.sampled_from(["\n", "\r\n", "\r"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
    quote_all=st.booleans(),
    trailing=st.booleans(),
)
def test_generated_csv_round_trips(
    scratch: Path,
    rows: list[tuple[str, str, str, bool]],
    delimiter: str,
    terminator: str,
    encoding: str,
    quote_all: bool,
    trailing: bool,
) -> None:
    header = ["Schüler-ID", "Nachname", "Vorname", "Klasse"] + ([""] if trailing else [])
    text = csv_record(header, delimiter, quote_all, terminator)
    expected: list[tuple[int, dict[str, str], tuple[str, str] | None]] = []
    for number, (last, first, klass, blank_after) in enumerate(rows, start=1):
        values = {"source_id": str(number), "last_name": last, "first_name": first, "class_name": klass}
        line = len(io.StringIO(text, newline=None).readlines()) + 1
        expected.append((line, values, expected_outcome(values)))
        fields = list(values.values()) + ([""] if trailing else [])
        text += csv_record(fields, delimiter, quote_all, terminator) + (terminator if blank_after else "")
    try:
        data = text.encode(encoding)
        forced = "cp1252" if encoding == "cp1252" else "auto"
    except UnicodeEncodeError:
        data, forced = text.encode("utf-8"), "auto"
    path = scratch / "roundtrip.csv"
    path.write_bytes(data)
    result = read_roster(RosterSource(path=path, format="csv", role="pupil", encoding=forced), "gs-fuzz")
    check_result(result, str(path), data)

    # Shown by --hypothesis-show-statistics: the mix of accepted and rejected rows actually exercised.
    event(f"{len(result.persons)} accepted, {len(result.rejected)} rejected")
    persons = iter(result.persons)
    rejected = iter(result.rejected)
    for line, values, outcome in expected:
        if outcome is None:
            person = next(persons)
            assert person.origin == f"{path}:{line}"
            assert (person.source_id, person.last_name, person.first_name) == (
                values["source_id"],
                clean(values["last_name"]),
                clean(values["first_name"]),
            )
            assert person.class_name is not None and person.class_name == person.class_name.strip()
        else:
            row = next(rejected)
            assert (row.line, row.field) == (line, outcome[0]), (str(row), values)
            if outcome[1] == "empty name":
                assert row.problem == "empty name"
    assert next(persons, None) is None and next(rejected, None) is None


# --------------------------------------------------------------------------------------------- OneRoster

BUNDLE = {
    "manifest.csv": "propertyName,value\noneroster.version,1.1\n",
    "orgs.csv": "sourcedId,status,name,type,identifier\norg-a,,Schule A,school,gs-fuzz\n",
    "classes.csv": "sourcedId,status,title,classCode,classType,schoolSourcedId\nc1,,5a,5a,homeroom,org-a\n",
    "enrollments.csv": (
        "sourcedId,status,classSourcedId,userSourcedId,role\ne1,,c1,u1,student\ne2,,c1,u2,student\n"
    ),
    "users.csv": (
        "sourcedId,status,enabledUser,orgSourcedIds,role,givenName,familyName\n"
        "u1,,true,org-a,student,Jürgen,Weiß\n"
        "u2,,true,org-a,student,Ayşe,Öztürk\n"
        "t1,,true,org-a,teacher,Karl,Lüders\n"
    ),
}


def bundle_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in BUNDLE.items():
            archive.writestr(name, text.encode())
    return buffer.getvalue()


VALID_ZIP = bundle_zip()


def test_the_fuzzed_bundle_is_valid(scratch: Path) -> None:
    path = scratch / "valid.zip"
    path.write_bytes(VALID_ZIP)
    result = read_roster(RosterSource(path=path, format="oneroster", role="mixed"), "gs-fuzz")
    assert sorted(p.source_id for p in result.persons) == ["t1", "u1", "u2"] and result.rejected == []


@FUZZ
@given(data=st.binary(max_size=400) | st.just(b"PK\x05\x06" + bytes(18)))
def test_any_bytes_as_a_oneroster_zip(scratch: Path, data: bytes) -> None:
    path = scratch / "bundle.zip"
    path.write_bytes(data)
    read_or_refuse(RosterSource(path=path, format="oneroster", role="mixed"), None)


@FUZZ
@given(
    mutations=st.lists(
        st.tuples(st.integers(0, len(VALID_ZIP) - 1), st.integers(0, 255)), min_size=1, max_size=6
    ),
    cut=st.none() | st.integers(0, len(VALID_ZIP)),
)
def test_damaged_oneroster_zip(scratch: Path, mutations: list[tuple[int, int]], cut: int | None) -> None:
    data = bytearray(VALID_ZIP)
    for position, value in mutations:
        data[position] = value
    path = scratch / "damaged.zip"
    path.write_bytes(bytes(data[:cut]))
    read_or_refuse(RosterSource(path=path, format="oneroster", role="mixed"), None)


@FUZZ
@given(
    name=st.sampled_from(sorted(BUNDLE)),
    content=st.binary(max_size=300)
    | st.text(st.sampled_from(',"\n\r abcu1org-ASsourcedIdtrue\x00é'), max_size=200).map(str.encode),
    keep_header=st.booleans(),
)
def test_any_bytes_as_a_file_of_a_oneroster_folder(
    scratch: Path, name: str, content: bytes, keep_header: bool
) -> None:
    folder = scratch / "bundle"
    folder.mkdir(exist_ok=True)
    for other, text in BUNDLE.items():
        (folder / other).write_text(text, encoding="utf-8")
    header = BUNDLE[name].split("\n", 1)[0].encode() + b"\n" if keep_header else b""
    (folder / name).write_bytes(header + content)
    read_or_refuse(RosterSource(path=folder, format="oneroster", role="mixed"), None)


# ---------------------------------------------------------------------------------------------- naming

SCHEMES = ["{first}.{last}", "{f}{last}", "{last}.{first}", "{first}-{last}", "{f}.{last}", "{first}_{last}"]
ANY_NAME = st.text(max_size=40) | st.sampled_from(["Anna", "Müller", "", " ", "Ö", "李", "-", "."])


@FUZZ
@given(first=ANY_NAME, last=ANY_NAME, scheme=st.sampled_from(SCHEMES), max_length=st.integers(8, 64))
def test_login_base_is_ascii_and_within_the_cap(first: str, last: str, scheme: str, max_length: int) -> None:
    policy = NamingPolicy(scheme, max_length)
    login = login_base(first, last, policy)
    assert LOGIN.match(login), login
    assert len(login) <= max_length - 2
    assert login == login_base(first, last, policy)  # deterministic
    assert transliterate(first + last).isascii()


@FUZZ
@given(
    people=st.lists(st.tuples(ANY_NAME, ANY_NAME), max_size=40),
    scheme=st.sampled_from(SCHEMES),
    max_length=st.integers(8, 24),
    preissued=st.sets(st.from_regex(LOGIN, fullmatch=True), max_size=10),
)
def test_allocated_logins_are_unique(
    people: list[tuple[str, str]], scheme: str, max_length: int, preissued: set[str]
) -> None:
    policy = NamingPolicy(scheme, max_length)
    taken = set(preissued)  # e.g. logins of other schools or still within the retention period
    issued = []
    for first, last in people:
        login = allocate_login(login_base(first, last, policy), taken.__contains__, max_length)
        assert LOGIN.match(login) and len(login) <= max_length, login
        assert login not in taken
        taken.add(login)
        issued.append(login)
    assert len(set(issued)) == len(issued)


def test_many_namesakes_with_a_short_cap() -> None:
    policy = NamingPolicy("{first}.{last}", 8)
    taken: set[str] = set()
    for _ in range(250):
        login = allocate_login(login_base("Anna", "Müller", policy), taken.__contains__, 8)
        assert LOGIN.match(login) and len(login) <= 8
        taken.add(login)
    assert len(taken) == 250
    assert {"anna.m", "anna.m2", "anna.m99", "anna100", "anna250"} <= taken


# -------------------------------------------------------------------------------------- hostile values


def write(tmp_path: Path, data: bytes | str) -> Path:
    path = tmp_path / "hostile.csv"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def read(path: Path) -> RosterResult:
    return read_roster(RosterSource(path=path, format="csv", role="pupil"), "gs-fuzz")


@pytest.fixture
def timer() -> Iterator[None]:
    start = time.perf_counter()
    yield
    assert time.perf_counter() - start < 3, "hostile input took too long"


HOSTILE_NAMES = [
    "*)(uid=*",
    "*",
    "a\\2a",
    "Meyer\\",
    "Müller, Hans",
    "x+y",
    "cn=admin,dc=x",
    "#root",
    "<b>",
    " ;",
]


def test_ldap_metacharacters_are_kept_verbatim_and_never_reach_logins(tmp_path: Path) -> None:
    """Names are data: read faithfully (the directory layer escapes them), logins are sanitised."""
    rows = "".join(f'{i};"{name}";"{name}";5a\n' for i, name in enumerate(HOSTILE_NAMES, start=1))
    result = read(write(tmp_path, "ID;Nachname;Vorname;Klasse\n" + rows + '"*)(uid=*";Koch;Lea;5a\n'))
    assert [p.last_name for p in result.persons] == [*HOSTILE_NAMES[:-1], ";", "Koch"]
    assert result.persons[-1].source_id == "*)(uid=*"
    assert result.rejected == []
    for person in result.persons:
        login = login_base(person.first_name, person.last_name, NamingPolicy())
        assert LOGIN.match(login), login
    assert login_base("*)(uid=*", "*)(uid=*", NamingPolicy()) == "uid.uid"
    assert login_base("cn=admin,dc=x", "\\00", NamingPolicy()) == "cnadmindcx.00"


@pytest.mark.parametrize(
    "name", ["Anna\nMaria", "Anna\r\nMaria", "Anna\rMaria", "Anna\x0bMaria", "Anna\u2028M"]
)
def test_line_breaks_inside_names_are_rejected_with_the_line(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, f'ID;Nachname;Vorname;Klasse\n1;Koch;Lea;5a\n2;Koch;"{name}";5a\n3;Koch;Tom;5a\n')
    result = read(path)
    assert [p.source_id for p in result.persons] == ["1", "3"]
    assert [str(r) for r in result.rejected] == [
        f"{path}:3: first_name: contains control characters (newline, NUL, ...)"
    ]


def test_nul_bytes_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, b"ID;Nachname;Vorname;Klasse\n1;Ko\x00ch;Lea;5a\n")
    with pytest.raises(RosterError, match=rf"^{re.escape(str(path))}: contains NUL bytes"):
        read(path)
    folder = tmp_path / "bundle"
    folder.mkdir()
    for name, text in BUNDLE.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "users.csv").write_bytes(BUNDLE["users.csv"].replace("Weiß", "Wei\x00").encode())
    with pytest.raises(RosterError, match=r"users\.csv: contains NUL bytes") as info:
        read_roster(RosterSource(path=folder, format="oneroster", role="mixed"), "gs-fuzz")
    assert str(info.value).startswith(str(folder))


def test_a_10000_character_field(tmp_path: Path, timer: None) -> None:
    long = "A" * 10_000
    path = write(tmp_path, f"ID;Nachname;Vorname;Klasse;Notiz\n1;{long};Lea;5a;\n2;Koch;Tom;5a;{long}\n")
    result = read(path)
    # In a name: refused with the line; in a column nobody reads: harmless, the row is kept.
    assert [str(r) for r in result.rejected] == [f"{path}:2: last_name: longer than 200 characters"]
    assert [p.source_id for p in result.persons] == ["2"]


def test_a_field_larger_than_the_csv_limit(tmp_path: Path, timer: None) -> None:
    path = write(tmp_path, "ID;Nachname;Vorname;Klasse\n1;Koch;Lea;5a\n2;" + "A" * 2_000_000 + ";Tom;5a\n")
    with pytest.raises(RosterError, match=rf"^{re.escape(str(path))}:3: unreadable CSV: field larger"):
        read(path)


def test_a_header_with_100000_columns(tmp_path: Path, timer: None) -> None:
    header = "ID;Nachname;Vorname;Klasse;" + ";".join(f"Spalte{i}" for i in range(100_000))
    path = write(tmp_path, header + "\n1;Koch;Lea;5a\n")
    with pytest.raises(RosterError) as info:
        read(path)
    assert str(info.value) == f"{path}:1: 100004 columns; a roster has at most 200"


def test_a_row_with_100000_columns(tmp_path: Path, timer: None) -> None:
    path = write(tmp_path, "ID;Nachname;Vorname;Klasse\n1;Koch;Lea;5a" + ";x" * 100_000 + "\n2;Koch;Tom;5a\n")
    result = read(path)
    assert [str(r) for r in result.rejected] == [f"{path}:2: row: 100004 fields"]
    assert [p.source_id for p in result.persons] == ["2"]


def test_a_oneroster_users_file_with_100000_columns(tmp_path: Path, timer: None) -> None:
    folder = tmp_path / "bundle"
    folder.mkdir()
    for name, text in BUNDLE.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "users.csv").write_text(",".join(f"c{i}" for i in range(100_000)) + "\nx\n", encoding="utf-8")
    with pytest.raises(RosterError) as info:
        read_roster(RosterSource(path=folder, format="oneroster", role="mixed"), "gs-fuzz")
    assert str(info.value) == f"{folder}/users.csv:1: 100000 columns"


def test_many_rows_read_in_reasonable_time(tmp_path: Path, timer: None) -> None:
    rows = "".join(f"{i};Müller-Lüdenscheidt;Jürgen;5a\n" for i in range(30_000))
    result = read(write(tmp_path, "ID;Nachname;Vorname;Klasse\n" + rows))
    assert len(result.persons) == 30_000 and result.rejected == []
