"""Probable renames for schools without stable ids: same birth date, names within a small edit distance."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from schulit.naming import transliterate

MAX_DISTANCE = 2


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment)."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def _folded(first: str, last: str) -> str:
    return transliterate(f"{first} {last}").lower()


def _birth_date(person: Any) -> Hashable:
    return person.birth_date


def probable_renames(
    vanished: Sequence[tuple[str, str, str, Hashable | None]],
    appeared: Sequence[Any],
    birth_of: Callable[[Any], Hashable | None] = _birth_date,
) -> list[tuple[str, Any]]:
    """Pairs (vanished key, appeared person) with equal birth dates and close names; ambiguous ones dropped.

    ``vanished``: (key, first name, last name, birth) of accounts no longer on the roster; ``appeared``:
    persons (with ``first_name``, ``last_name``) new on it, ``birth_of(person)`` their birth. A birth is
    anything compared for equality only: a date, or the keyed hash the directory holds instead.
    """
    births = {id(person): birth_of(person) for person in appeared}
    candidates: dict[str, list[Any]] = {}
    claimed: dict[int, list[str]] = {}
    for key, first, last, birth in vanished:
        if birth is None:
            continue
        for person in appeared:
            if births[id(person)] != birth:
                continue
            if (
                edit_distance(_folded(first, last), _folded(person.first_name, person.last_name))
                <= MAX_DISTANCE
            ):
                candidates.setdefault(key, []).append(person)
                claimed.setdefault(id(person), []).append(key)
    return [
        (key, people[0])
        for key, people in sorted(candidates.items())
        if len(people) == 1 and len(claimed[id(people[0])]) == 1
    ]
