"""Domain rules that several use cases share, each defined once.

- the safety limit and its denominator, "managed accounts of a school": managed, not deactivated accounts
  whose home is that school (sync, nightly, term-start and purge all count them this way);
- the delivery rows of new and reset passwords (sync and reset-password write them the same way; the web
  page prints the same rows straight into its PDF).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from schulit.accounts.model import ActualAccount
from schulit.delivery import DeliveryRecord, write_delivery
from schulit.inventory import SafetyLimits


def safety_limit(limits: SafetyLimits, managed_accounts: int) -> int:
    """How many deactivations/deletions one school may have in one run."""
    return min(limits.max_count, max(1, int(managed_accounts * limits.max_percent / 100)))


def managed_counts(accounts: Iterable[ActualAccount]) -> dict[str, int]:
    """Managed accounts of each school: not deactivated, counted at their home school."""
    counts: dict[str, int] = {}
    for account in accounts:
        if account.deactivated_on is None:
            counts[account.home_school] = counts.get(account.home_school, 0) + 1
    return counts


def over_safety_limit(
    limits: SafetyLimits, removals: dict[str, int], managed: dict[str, int]
) -> dict[str, tuple[int, int]]:
    """Schools whose removals (deactivations or deletions) exceed the limit: school -> (removals, limit)."""
    result = {}
    for school, count in removals.items():
        limit = safety_limit(limits, managed.get(school, 0))
        if count > limit:
            result[school] = (count, limit)
    return result


@dataclass(frozen=True)
class PasswordHolder:
    """Who a new password is for: what its delivery row and letter show."""

    login: str
    role: str
    first_name: str
    last_name: str
    class_name: str | None
    school_id: str

    @classmethod
    def of(cls, account: ActualAccount) -> PasswordHolder:
        """The holder of an existing account's new password."""
        return cls(
            account.login, account.role, account.first_name, account.last_name, account.class_name,
            account.home_school,
        )  # fmt: skip


def delivery_records(
    issued: Iterable[tuple[PasswordHolder, str]], school_names: Mapping[str, str], reason: str
) -> list[DeliveryRecord]:
    """The delivery rows (what a letter prints) of new (``reason="new"``) or reset (``"reset"``) passwords."""
    issued_at = datetime.now(UTC).isoformat(timespec="seconds")
    return [
        DeliveryRecord(
            school_id=holder.school_id,
            school_name=school_names.get(holder.school_id, holder.school_id),
            class_name=holder.class_name or "",
            role=holder.role,
            login=holder.login,
            first_name=holder.first_name,
            last_name=holder.last_name,
            password=password,
            reason=reason,
            issued_at=issued_at,
        )
        for holder, password in issued
    ]


def write_new_passwords(
    delivery_dir: Path,
    issued: Iterable[tuple[PasswordHolder, str]],
    school_names: Mapping[str, str],
    reason: str,
) -> list[Path]:
    """The delivery rows of new or reset passwords, one 0600 file per school.

    Written and fsynced before the caller sends any of the hashes to the directory, so that no account ever
    has a password that nobody can print.
    """
    by_school: dict[str, list[DeliveryRecord]] = {}
    for record in delivery_records(issued, school_names, reason):
        by_school.setdefault(record.school_id, []).append(record)
    files = []
    for school_id, records in sorted(by_school.items()):
        path = write_delivery(delivery_dir, school_id, records)
        if path is not None:
            files.append(path)
    return files
