"""Generate the demo county's fictional roster exports, reproducibly.

    python inventories/demo/generate_rosters.py [OUTPUT_DIR]

Writes ``OUTPUT_DIR/<school id>/...`` (default: ``rosters/`` next to this file) in the formats the schools'
administration software would produce: a SchILD-NRW export (Windows-1252, ``;``, CRLF, mixed date forms), a
sophomorix ``students.csv`` (linuxmuster.net, no header), UTF-8 with BOM, tab-separated, unusual headers, a
school without ids, and OneRoster 1.1 and 1.2 bundles. Every name is made up. Birth years fit the grade in
the school year 2026/27; e-mail local parts are transliterated like logins. The same run always produces the
same bytes (fixed seed, no timestamps).
"""

from __future__ import annotations

import csv
import io
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from schulit.naming import transliterate

SEED = 20260801
SCHOOL_YEAR = 2026  # 2026/27: a first-grader is six by the autumn of 2026, so born 2019 or 2020
GIRLS = [
    "Lea",
    "Mia",
    "Emma",
    "Hanna",
    "Sophie",
    "Marie",
    "Lina",
    "Ida",
    "Clara",
    "Ella",
    "Frieda",
    "Mathilda",
    "Anna-Lena",
    "Lea Sophie",
    "Greta",
    "Paula",
    "Johanna",
    "Merle",
    "Zeynep",
    "Elif",
    "Ayşe",
    "Defne",
    "Zofia",
    "Maja",
    "Wiktoria",
    "Anh",
    "Linh",
    "Thị Ánh",
    "Amira",
    "Layla",
    "Nour",
    "Sofia",
    "Alina",
    "Polina",
    "Jasmin",
    "Leonie",
    "Charlotte",
    "Carla",
    "Smilla",
    "Özlem",
]
BOYS = [
    "Ben",
    "Paul",
    "Jonas",
    "Finn",
    "Leon",
    "Noah",
    "Elias",
    "Felix",
    "Luis",
    "Henry",
    "Emil",
    "Theo",
    "Karl-Heinz",
    "Jan Ole",
    "Mats",
    "Ole",
    "Hannes",
    "Tjark",
    "Emre",
    "Mehmet",
    "Yusuf",
    "Çağlar",
    "Łukasz",
    "Jakub",
    "Mikołaj",
    "Minh",
    "Đức",
    "Huy",
    "Omar",
    "Karim",
    "Ali",
    "Maxim",
    "Artjom",
    "Nikita",
    "Lukas",
    "Moritz",
    "Jannik",
    "Malte",
    "Max",
    "Bjarne",
]
LAST = [
    "Müller",
    "Schmidt",
    "Meyer",
    "Schulz",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Schröder",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Braun",
    "Krüger",
    "Hartmann",
    "Lange",
    "Werner",
    "Krause",
    "Lehmann",
    "Köhler",
    "Weiß",
    "Groß",
    "Öhlschläger",
    "Böttcher",
    "Heinemann",
    "Lüders",
    "Rieckmann",
    "Niemeyer",
    "Brüggemann",
    "Meyer-Lüdenscheidt",
    "von der Heide",
    "van den Berg",
    "de Vries",
    "zu Dohna",
    "O'Connor",
    "D'Angelo",
    "Öztürk",
    "Çelik",
    "Yılmaz",
    "Şahin",
    "Ağaoğlu",
    "Kaya",
    "Demir",
    "Wąsowski",
    "Wiśniewska",
    "Żak",
    "Kowalski",
    "Nowak",
    "Nguyễn",
    "Trần",
    "Phạm",
    "Lê",
    "Al-Hassan",
    "Haddad",
    "Schäfer",
    "Becker-Özdemir",
    "Petrov",
    "Friesen",
    "Wiebe",
    "Penner",
    "Dück",
    "Janßen",
]


def encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class Person:
    source_id: str
    first: str
    last: str
    klass: str
    birth: str  # dd.mm.yyyy
    email: str = ""


class County:
    """Random but reproducible persons; pupil ids county-wide, teacher staff numbers shared across schools."""

    def __init__(self) -> None:
        self.random = random.Random(SEED)
        self.next_pupil = 4000001
        self.next_teacher = 710001

    def name(self, encoding: str = "utf-8") -> tuple[str, str]:
        while True:
            first = self.random.choice(GIRLS if self.random.random() < 0.5 else BOYS)
            last = self.random.choice(LAST)
            if encodable(first + last, encoding):
                return first, last

    def pupils(
        self, classes: list[str], size: int, birth_year: int, encoding: str, *, by_grade: bool = True
    ) -> list[Person]:
        """``by_grade``: born ``SCHOOL_YEAR - 5 - grade`` (a year earlier for some); else in ``birth_year``
        (or the year before)."""
        result = []
        for klass in classes:
            grade = int("".join(c for c in klass if c.isdigit()) or "11") if by_grade else 0
            for _ in range(size + self.random.randint(-3, 3)):
                first, last = self.name(encoding)
                year = (SCHOOL_YEAR - 5 - grade if by_grade else birth_year) + self.random.choice(
                    [0, 0, 0, -1]
                )
                birth = f"{self.random.randint(1, 28):02d}.{self.random.randint(1, 12):02d}.{year}"
                result.append(Person(str(self.next_pupil), first, last, klass, birth))
                self.next_pupil += 1
        return result

    def teachers(self, count: int, school: str, encoding: str) -> list[Person]:
        result = []
        for _ in range(count):
            first, last = self.name(encoding)
            email = f"{ascii_part(first)[:1]}.{ascii_part(last)}@{school}.schule.lk-heide.example"
            result.append(Person(f"P{self.next_teacher}", first, last, "", "", email))
            self.next_teacher += 1
        return result


def ascii_part(name: str) -> str:
    """A name as an e-mail local part, transliterated like logins ("Schäfer" → "schaefer")."""
    return re.sub(r"[^a-z0-9]", "", transliterate(name).lower())


def classes(grades: range, letters: str) -> list[str]:
    return [f"{g}{letter}" for g in grades for letter in letters]


def csv_text(
    header: list[str],
    rows: list[list[str]],
    delimiter: str,
    line_end: str,
    trailing: bool = False,
    quote_all: bool = False,
) -> str:
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter=delimiter,
        lineterminator=line_end,
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
    )
    for row in [header, *rows]:
        writer.writerow(row + ([""] if trailing else []))
    return buffer.getvalue()


def write(path: Path, text: str, encoding: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))


def oneroster(
    folder: Path, version: str, school_id: str, school_name: str, pupils: list[Person], teachers: list[Person]
) -> None:
    """A bulk OneRoster bundle (folder) with one school org."""
    org = f"org-{school_id}"
    files = ["academicSessions", "classes", "courses", "enrollments", "orgs", "users"]
    if version == "1.2":
        files.append("roles")
    manifest = [["manifest.version", "1.0"], ["oneroster.version", version]]
    for name in [
        "academicSessions",
        "categories",
        "classes",
        "classResources",
        "courses",
        "courseResources",
        "demographics",
        "enrollments",
        "lineItems",
        "orgs",
        "resources",
        "results",
        "users",
    ] + (["roles", "userProfiles"] if version == "1.2" else []):
        manifest.append([f"file.{name}", "bulk" if name in files else "absent"])
    manifest += [["source.systemName", "Heide-SV (fictional)"], ["source.systemCode", "heide-sv"]]
    write(folder / "manifest.csv", csv_text(["propertyName", "value"], manifest, ",", "\n"), "utf-8")
    write(
        folder / "orgs.csv",
        csv_text(
            ["sourcedId", "status", "dateLastModified", "name", "type", "identifier", "parentSourcedId"],
            [
                [org, "", "", school_name, "school", school_id, "org-lk-heide"],
                ["org-lk-heide", "", "", "Landkreis Heidekreis-Lüne", "district", "lk-heide", ""],
            ],
            ",",
            "\n",
        ),
        "utf-8",
    )
    session_header = [
        "sourcedId",
        "status",
        "dateLastModified",
        "title",
        "type",
        "startDate",
        "endDate",
        "parentSourcedId",
        "schoolYear",
    ]
    write(
        folder / "academicSessions.csv",
        csv_text(
            session_header,
            [["sy-2026", "", "", "Schuljahr 2026/27", "schoolYear", "2026-08-01", "2027-07-31", "", "2027"]],
            ",",
            "\n",
        ),
        "utf-8",
    )
    class_names = sorted({p.klass for p in pupils})
    write(
        folder / "courses.csv",
        csv_text(
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "schoolYearSourcedId",
                "title",
                "courseCode",
                "grades",
                "orgSourcedId",
                "subjects",
                "subjectCodes",
            ],
            [["course-homeroom", "", "", "sy-2026", "Klassenverband", "KV", "", org, "", ""]],
            ",",
            "\n",
        ),
        "utf-8",
    )
    write(
        folder / "classes.csv",
        csv_text(
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "title",
                "grades",
                "courseSourcedId",
                "classCode",
                "classType",
                "location",
                "schoolSourcedId",
                "termSourcedIds",
                "subjects",
                "subjectCodes",
                "periods",
            ],
            [
                [
                    f"class-{c}",
                    "",
                    "",
                    c,
                    "",
                    "course-homeroom",
                    c,
                    "homeroom",
                    "",
                    org,
                    "sy-2026",
                    "",
                    "",
                    "",
                ]
                for c in class_names
            ],
            ",",
            "\n",
        ),
        "utf-8",
    )
    users, enrollments, roles = [], [], []
    for role, people in (("student", pupils), ("teacher", teachers)):
        for person in people:
            sourced = person.source_id
            if version == "1.1":
                users.append(
                    [
                        sourced,
                        "",
                        "",
                        "true",
                        org,
                        role,
                        "",
                        "",
                        person.first,
                        person.last,
                        "",
                        person.source_id,
                        person.email,
                        "",
                        "",
                        "",
                        "",
                        "",
                    ]
                )
            else:
                users.append(
                    [
                        sourced,
                        "",
                        "",
                        "true",
                        "",
                        "",
                        person.first,
                        person.last,
                        "",
                        person.source_id,
                        person.email,
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        org,
                        "",
                    ]
                )
                roles.append([f"r-{person.source_id}", "", "", sourced, "primary", role, "", "", org, ""])
            if role == "student":
                enrollments.append(
                    [
                        f"e-{person.source_id}",
                        "",
                        "",
                        f"class-{person.klass}",
                        org,
                        sourced,
                        "student",
                        "true",
                        "",
                        "",
                    ]
                )
    if version == "1.1":
        user_header = [
            "sourcedId",
            "status",
            "dateLastModified",
            "enabledUser",
            "orgSourcedIds",
            "role",
            "username",
            "userIds",
            "givenName",
            "familyName",
            "middleName",
            "identifier",
            "email",
            "sms",
            "phone",
            "agentSourcedIds",
            "grades",
            "password",
        ]
    else:
        user_header = [
            "sourcedId",
            "status",
            "dateLastModified",
            "enabledUser",
            "username",
            "userIds",
            "givenName",
            "familyName",
            "middleName",
            "identifier",
            "email",
            "sms",
            "phone",
            "agentSourcedIds",
            "grades",
            "password",
            "userMasterIdentifier",
            "resourceSourcedIds",
            "preferredGivenName",
            "preferredMiddleName",
            "preferredFamilyName",
            "primaryOrgSourcedId",
            "pronouns",
        ]
        write(
            folder / "roles.csv",
            csv_text(
                [
                    "sourcedId",
                    "status",
                    "dateLastModified",
                    "userSourcedId",
                    "roleType",
                    "role",
                    "beginDate",
                    "endDate",
                    "orgSourcedId",
                    "userProfileSourcedId",
                ],
                roles,
                ",",
                "\n",
            ),
            "utf-8",
        )
    write(folder / "users.csv", csv_text(user_header, users, ",", "\n"), "utf-8")
    write(
        folder / "enrollments.csv",
        csv_text(
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "classSourcedId",
                "schoolSourcedId",
                "userSourcedId",
                "role",
                "primary",
                "beginDate",
                "endDate",
            ],
            enrollments,
            ",",
            "\n",
        ),
        "utf-8",
    )


def generate(out: Path) -> None:
    """Write every demo roster below ``out``."""
    county = County()
    gs = classes(range(1, 5), "abc")
    # Grundschule Bienenbüttel: a SchILD-NRW export (preset "schild-nrw"): Windows-1252, ';', CRLF, trailing
    # ';', a blank line, SchILD's column order, birth dates as TTMMJJJJ.
    pupils = county.pupils(gs, 22, 2026, "cp1252")
    pupils[5] = Person("4009998", "Max", "Mustermann", "2a", "03.04.2019")
    pupils[40] = Person("4009999", "Max", "Mustermann", "3b", "17.09.2017")
    rows = [
        [p.source_id, p.klass.upper() if i % 7 == 0 else p.klass, p.last, p.first, p.birth.replace(".", "")]
        for i, p in enumerate(pupils)
    ]
    text = csv_text(
        ["Interne ID-Nummer", "Klasse", "Nachname", "Vorname", "Geburtsdatum"],
        rows,
        ";",
        "\r\n",
        trailing=True,
    )
    write(out / "gs-bienenbuettel" / "schueler.csv", text.replace("\r\n", "\r\n\r\n", 1), "cp1252")
    shared = county.teachers(8, "lk", "cp1252")  # teachers who work at two schools
    teachers_gs_b = county.teachers(14, "gs-bienenbuettel", "cp1252") + shared[:2]
    write(
        out / "gs-bienenbuettel" / "lehrer.csv",
        csv_text(
            ["Personalnummer", "Nachname", "Vorname", "E-Mail"],
            [[t.source_id, t.last, t.first, t.email] for t in teachers_gs_b],
            ";",
            "\r\n",
        ),
        "cp1252",
    )

    # Grundschule Amelinghausen: no stable ids (name+birthdate identity), UTF-8 with BOM, ',', quoted fields.
    pupils = county.pupils(gs, 21, 2026, "utf-8")
    write(
        out / "gs-amelinghausen" / "schueler.csv",
        csv_text(
            ["Nachname", "Vorname", "Klasse", "Geburtsdatum"],
            [[p.last, p.first, p.klass, p.birth] for p in pupils],
            ",",
            "\r\n",
            quote_all=True,
        ),
        "utf-8-sig",
    )
    teachers = county.teachers(13, "gs-amelinghausen", "utf-8")
    write(
        out / "gs-amelinghausen" / "lehrer.csv",
        csv_text(
            ["Nachname", "Vorname", "Geburtsdatum"],
            [
                [t.last, t.first, f"{10 + i % 18:02d}.0{1 + i % 9}.19{70 + i % 25}"]
                for i, t in enumerate(teachers)
            ],
            ",",
            "\r\n",
            quote_all=True,
        ),
        "utf-8-sig",
    )

    # Grundschule Hanstedt: unusual headers (mapped in the inventory), Windows-1252.
    pupils = county.pupils(classes(range(1, 5), "ab"), 23, 2026, "cp1252")
    write(
        out / "gs-hanstedt" / "export_schueler.csv",
        csv_text(
            ["Kennung", "Familienname", "Rufname", "Lerngruppe", "Geb."],
            [
                [p.source_id, p.last, p.first, f"Klasse {p.klass}".replace("Klasse ", ""), p.birth]
                for p in pupils
            ],
            ";",
            "\r\n",
        ),
        "cp1252",
    )
    write(
        out / "gs-hanstedt" / "export_lehrer.csv",
        csv_text(
            ["Kennung", "Familienname", "Rufname"],
            [
                [t.source_id, t.last, t.first]
                for t in county.teachers(10, "gs-hanstedt", "cp1252") + shared[2:3]
            ],
            ";",
            "\r\n",
        ),
        "cp1252",
    )

    # Oberschule Bad Bevensen: tab-separated UTF-8 with Schüler-ID and Rufname.
    obs = classes(range(5, 11), "abc")
    pupils = county.pupils(obs, 24, 2026, "utf-8")
    write(
        out / "obs-bad-bevensen" / "schueler.txt",
        csv_text(
            ["Schüler-ID", "Nachname", "Rufname", "Vorname", "Klasse", "Geburtsdatum"],
            [
                [
                    p.source_id,
                    p.last,
                    p.first.split(" ")[0],
                    p.first,
                    f"0{p.klass}" if len(p.klass) == 2 else p.klass,
                    p.birth,
                ]
                for p in pupils
            ],
            "\t",
            "\n",
        ),
        "utf-8",
    )
    write(
        out / "obs-bad-bevensen" / "lehrer.txt",
        csv_text(
            ["Lehrer-ID", "Nachname", "Vorname"],
            [
                [t.source_id, t.last, t.first]
                for t in county.teachers(30, "obs-bad-bevensen", "utf-8") + shared[:1] + shared[3:4]
            ],
            "\t",
            "\n",
        ),
        "utf-8",
    )

    # Oberschule Salzhausen: still on linuxmuster.net: sophomorix students.csv (format "sophomorix"): no
    # header, '#' comments, Windows-1252, class;last;first;d.m.yyyy;unid; (no logins given yet).
    pupils = county.pupils(classes(range(5, 11), "ab"), 25, 2026, "cp1252")
    lines = ["# students.csv (sophomorix, linuxmuster.net 7) - Oberschule Salzhausen"]
    for p in pupils:
        day, month, year = p.birth.split(".")
        lines.append(f"{p.klass};{p.last};{p.first};{int(day)}.{int(month)}.{year};{p.source_id};")
    write(out / "obs-salzhausen" / "students.csv", "\n".join(lines) + "\n", "cp1252")
    write(
        out / "obs-salzhausen" / "lehrer.csv",
        csv_text(
            ["Personalnummer", "Nachname", "Vorname"],
            [
                [t.source_id, t.last, t.first]
                for t in county.teachers(24, "obs-salzhausen", "cp1252") + shared[2:3] + shared[4:5]
            ],
            ";",
            "\r\n",
        ),
        "cp1252",
    )

    # Gymnasium Ebstorf: OneRoster 1.1 bundle.
    gym = classes(range(5, 11), "abcd")
    pupils = county.pupils(gym, 26, 2026, "utf-8") + county.pupils(
        ["q1", "q2"], 55, 2008, "utf-8", by_grade=False
    )
    oneroster(
        out / "gym-ebstorf" / "oneroster",
        "1.1",
        "gym-ebstorf",
        "Gymnasium Klosterschule Ebstorf",
        pupils,
        county.teachers(50, "gym-ebstorf", "utf-8") + shared[3:4] + shared[5:6],
    )

    # Gymnasium Bispingen: UTF-8 ';' (no BOM), e-mail column.
    pupils = county.pupils(classes(range(5, 11), "abcd"), 27, 2026, "utf-8")
    write(
        out / "gym-bispingen" / "schueler.csv",
        csv_text(
            ["Schülernummer", "Name", "Vorname", "Klasse", "Geburtsdatum"],
            [[p.source_id, p.last, p.first, p.klass, p.birth] for p in pupils],
            ";",
            "\n",
        ),
        "utf-8",
    )
    write(
        out / "gym-bispingen" / "lehrer.csv",
        csv_text(
            ["Personalnummer", "Name", "Vorname", "E-Mail"],
            [
                [t.source_id, t.last, t.first, t.email]
                for t in county.teachers(45, "gym-bispingen", "utf-8") + shared[4:5] + shared[6:8]
            ],
            ";",
            "\n",
        ),
        "utf-8",
    )

    # BBS Uelzen-Nord: OneRoster 1.2 bundle with vocational classes.
    bbs = [
        "BFS-IT1",
        "BFS-IT2",
        "FOS11a",
        "FOS12a",
        "BS-KFZ1",
        "BS-KFZ2",
        "BS-KFZ3",
        "BS-EL1",
        "BS-EL2",
        "BGY11",
        "BGY12",
        "BGY13",
    ]
    pupils = county.pupils(bbs, 20, 2008, "utf-8", by_grade=False)
    oneroster(
        out / "bbs-uelzen-nord" / "oneroster",
        "1.2",
        "bbs-uelzen-nord",
        "BBS Uelzen-Nord",
        pupils,
        county.teachers(30, "bbs-uelzen-nord", "utf-8") + shared[5:6] + shared[7:8],
    )


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "rosters"
    generate(out)
    print(f"wrote demo rosters to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
