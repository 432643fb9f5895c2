"""Render the README's letter pictures: docs/letters-{cover,pupil,teacher}.png (fictional people).

.venv/bin/python scripts/letter-images.py     # needs poppler-utils (pdftoppm)
"""

from __future__ import annotations

import subprocess
import tempfile
from datetime import date
from pathlib import Path

from PIL import Image, ImageDraw

from schulit.delivery import DeliveryRecord
from schulit.letters import LetterText, build_pdf

DOCS = Path(__file__).resolve().parents[1] / "docs"
PEOPLE = [
    ("5a", "pupil", "Özdemir", "Elif", "elif.oezdemir", "Kp7xWq2mRt"),
    ("5a", "pupil", "Weiß", "Jonas", "jonas.weiss", "Hn4cVb8sQe"),
    ("5a", "pupil", "Wąsowski", "Łukasz", "lukasz.wasowski", "Gm3dTr9kPa"),
    ("", "teacher", "Schröder", "Anja", "anja.schroeder", "Ds5gLk7pMv"),
    ("", "teacher", "Nguyễn", "Thị Ánh", "thi.nguyen", "Fw6hNj2uXc"),
]


def logo(path: Path) -> None:
    """A made-up county logo: a green shield with a heath flower."""
    image = Image.new("RGBA", (240, 120), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    draw.polygon([(10, 10), (110, 10), (110, 70), (60, 112), (10, 70)], fill=(34, 110, 60))
    for x, y in ((45, 40), (75, 40), (60, 62)):
        draw.ellipse((x - 12, y - 12, x + 12, y + 12), fill=(190, 90, 170))
    draw.text((122, 35), "Landkreis", fill=(34, 110, 60))
    draw.text((122, 60), "Heidekreis-Lüne", fill=(34, 110, 60))
    image.save(path)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        logo(work / "logo.png")
        records = [
            DeliveryRecord(
                "gs-hanstedt",
                "Grundschule Hanstedt",
                klass,
                role,
                login,
                first,
                last,
                password,
                "new",
                "2026-08-01T07:00:00+00:00",
            )
            for klass, role, last, first, login, password in PEOPLE
        ]
        text = LetterText(
            portal="https://portal.lk-heide.schule.example",
            helpdesk="den IT-Service des Landkreises (Tel. 04131 26-1234)",
            sender="Landkreis Heidekreis-Lüne",
            logo=work / "logo.png",
        )
        pdf = work / "letters.pdf"
        build_pdf(records, {"gs-hanstedt": "Grundschule Hanstedt"}, pdf, date(2026, 8, 1), text)
        # page 1: the class teacher's cover sheet, 2: the pupils' slips, 3: the teachers' slips
        for page, name in ((1, "letters-cover"), (2, "letters-pupil"), (3, "letters-teacher")):
            subprocess.run(
                [
                    "pdftoppm",
                    "-png",
                    "-r",
                    "60",
                    "-f",
                    str(page),
                    "-l",
                    str(page),
                    "-singlefile",
                    str(pdf),
                    str(DOCS / name),
                ],
                check=True,
            )


if __name__ == "__main__":
    main()
