"""Login names (SPEC §4): transliterate, apply the scheme, cap the length, add a counter on collision.

- Transliteration happens before anything is cut, so "Öle" gives "oe..." and never a lone "o": German rules
  first (ä → ae, ß → ss), then anyascii (ISC licence) for every other script ("Олександр" → "Oleksandr",
  "Γιώργος" → "Giorgos", "王小明" → "WangXiaoMing").
- ``{first}``: the first given name (up to the first space; "Anna-Lena" stays one name, "annalena");
  ``{last}``: the whole last name without spaces, hyphens and apostrophes, particles kept
  ("van der Berg" → "vanderberg", "Müller-Lüdenscheidt" → "muellerluedenscheidt"); ``{f}``: first initial.
- Only ``a-z 0-9 . -`` remain; the result is cut to ``max_length - 2`` (room for a counter up to 99) by
  shortening the last-name part; a name with nothing left after transliteration becomes "user".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from anyascii import anyascii

SPECIAL = {
    "ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "ẞ": "SS",
    "æ": "ae", "Æ": "Ae", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ı": "i",
    "þ": "th", "Þ": "Th", "œ": "oe", "Œ": "Oe", "ð": "d", "Ð": "D", "ŧ": "t", "ħ": "h",
}  # fmt: skip
COUNTER_ROOM = 2


@dataclass(frozen=True)
class NamingPolicy:
    """Login scheme (placeholders ``{first}``, ``{last}``, ``{f}``) and length cap."""

    scheme: str = "{first}.{last}"
    max_length: int = 20


def transliterate(text: str) -> str:
    """Fold to ASCII: German umlauts to two letters, other scripts romanised by anyascii.

    Characters anyascii has no romanisation for (private use, unassigned) are dropped.
    """
    replaced = "".join(SPECIAL.get(char, char) for char in unicodedata.normalize("NFC", text))
    folded = anyascii(unicodedata.normalize("NFC", replaced))
    return "".join(char for char in folded if char.isascii() and (char.isprintable() or char.isspace()))


def _clean(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", transliterate(text).lower())


def login_base(first_name: str, last_name: str, policy: NamingPolicy) -> str:
    """The login before collision handling, within ``policy.max_length - 2`` characters."""
    given = first_name.strip().split(" ")[0] if first_name.strip() else ""
    first = _clean(given)
    last = _clean(last_name)
    initial = first[:1]
    budget = max(policy.max_length - COUNTER_ROOM, 3)
    fixed = policy.scheme.replace("{last}", "")
    fixed_length = len(fixed.replace("{first}", first).replace("{f}", initial))
    if "{last}" in policy.scheme and fixed_length + len(last) > budget:
        last = last[: max(budget - fixed_length, 1)]
    login = policy.scheme.replace("{first}", first).replace("{last}", last).replace("{f}", initial).lower()
    login = re.sub(r"[^a-z0-9.-]", "", login)
    login = re.sub(r"[.-]{2,}", lambda m: m.group(0)[0], login).strip(".-")
    login = login[:budget].rstrip(".-")
    if not login or not login[0].isalnum():
        login = "user"
    return login


def allocate_login(base: str, is_taken: Callable[[str], bool], max_length: int) -> str:
    """``base`` if free, else ``base2``, ``base3``, ... cut so the result stays within ``max_length``."""
    if not is_taken(base):
        return base
    counter = 2
    while True:
        suffix = str(counter)
        stem = base[: max_length - len(suffix)].rstrip(".-") or "user"
        candidate = f"{stem}{suffix}"
        if not is_taken(candidate):
            return candidate
        counter += 1
