"""The two runs the tool exists for, composed from the accounts, letters and configs building blocks.

- ``term_start``: supervised. Plan (a school over the safety limit is stopped and shown, and written only
  with ``force``), typed "yes", sync, password letters per school into the output folder of exactly the
  passwords this run created (removed from the delivery files once printed, so a re-run prints nothing
  twice), configs push, report.
- ``nightly``: unattended. Sync with the safety limits kept, then push; quiet on success, a short report on
  stderr and a non-zero exit code otherwise (2 when all went well but a probable rename waits for an admin).

Configs are rendered from the directory, so pushing after a stopped or refused school is safe: its servers
get the shares of its last good state.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from schulit.accounts import service
from schulit.accounts.model import Plan
from schulit.accounts.rules import over_safety_limit
from schulit.accounts.service import SyncOptions, SyncOutcome, run_sync
from schulit.delivery import read_deliveries
from schulit.errors import (
    EXIT_CHANGES_PENDING,
    EXIT_ERROR,
    EXIT_HOSTS_FAILED,
    EXIT_OK,
    EXIT_SAFETY_LIMIT,
    SafetyLimitError,
)
from schulit.inventory import Inventory

EXIT_ATTENTION = EXIT_CHANGES_PENDING  # nightly: done, but something waits for an admin (README: Exit codes)


@dataclass
class RunReport:
    """What a term-start or nightly run did, step by step."""

    sync: SyncOutcome | None = None
    letters: list[tuple[str, Path, int]] = field(default_factory=list)  # school, pdf, letters
    push: Any = None
    messages: list[str] = field(default_factory=list)
    cancelled: bool = False
    attention: list[str] = field(default_factory=list)  # things only a human can decide (exit 2 if alone)

    @property
    def exit_code(self) -> int:
        codes = [self.sync.exit_code if self.sync else EXIT_OK]
        if self.push is not None and self.push.exit_code:
            codes.append(EXIT_HOSTS_FAILED)
        if self.attention:
            codes.append(EXIT_ATTENTION)
        for code in (EXIT_ERROR, EXIT_SAFETY_LIMIT, EXIT_HOSTS_FAILED, EXIT_ATTENTION):
            if code in codes:
                return code
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "cancelled": self.cancelled,
            "accounts": (
                {"plan": self.sync.plan.to_json(), **self.sync.result.to_json()} if self.sync else None
            ),
            "letters": [{"school": s, "pdf": str(p), "letters": n} for s, p, n in self.letters],
            "configs": self.push.to_json() if self.push is not None else None,
            "messages": self.messages,
            "attention": self.attention,
        }


def over_limit(plan: Plan, inventory: Inventory) -> dict[str, tuple[int, int]]:
    """Schools of a forced plan whose deactivations exceed the safety limit: school -> (count, limit)."""
    counts: dict[str, int] = {}
    for change in plan.changes:
        if change.action == "deactivate":
            counts[change.school] = counts.get(change.school, 0) + 1
    return over_safety_limit(inventory.safety, counts, plan.managed)


def term_start(
    inventory: Inventory,
    *,
    schools: tuple[str, ...],
    output: Path,
    confirm: Callable[[Plan], bool],
    force: bool = False,
    today: date | None = None,
    say: Callable[[str], None] = print,
    show_progress: bool = False,
) -> RunReport:
    """Plan → confirm → sync (safety limits kept unless ``force``) → letters → push → report."""
    from schulit.configs import push_configs
    from schulit.configs.push import tty_progress
    from schulit.letters import write_letters

    report = RunReport()
    output.mkdir(parents=True, exist_ok=True, mode=0o700)
    options = SyncOptions(schools=schools, force=force, today=today)
    outcome = run_sync(inventory, options, command="term-start", confirm=confirm, show_progress=show_progress)
    report.sync = outcome
    if outcome.plan.pending and not outcome.result.applied and not outcome.result.failed:
        report.cancelled = True
        report.messages.append("cancelled: nothing was changed")
        return report
    day = (today or date.today()).isoformat()
    created = list(outcome.result.delivery_files)  # only this run's passwords: nothing printed twice
    for school in inventory.schools:
        if schools and school.id not in schools:
            continue
        pdf = output / f"letters-{school.id}-{day}.pdf"
        if pdf.exists():
            pdf = output / f"letters-{school.id}-{day}-{len(list(output.glob(f'letters-{school.id}-*')))}.pdf"
        letters = write_letters(inventory, pdf, school=school.id, shred=True, files=created)
        if letters.letters:
            report.letters.append((school.id, pdf, letters.letters))
            say(f"letters for {school.id}: {letters.letters}")
    if not report.letters:
        report.messages.append("letters: no new passwords to print")
    earlier = [r for r in read_deliveries(inventory.passwords.delivery_dir) if not r.printed_at]
    earlier = [r for r in earlier if not schools or r.school_id in schools]
    if earlier:
        report.messages.append(
            f"letters: {len(earlier)} unprinted password(s) from earlier runs or resets are not in this "
            "run's letters; print them with: schulit passwords letters --output FILE.pdf"
        )
    if any(not schools or server.school_id in schools for server in inventory.servers()):
        progress = tty_progress if show_progress else None
        report.push = push_configs(inventory, limits=schools, progress=progress)
    else:
        report.messages.append("configs: no servers in the inventory for these schools; nothing pushed")
    _write_private(output / f"report-{day}.json", json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    return report


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read (the report names pupils)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")


def nightly(
    inventory: Inventory,
    *,
    today: date | None = None,
    purge: bool = False,
    show_progress: bool = False,
) -> RunReport:
    """Sync every school with the safety limits kept, then push configs. Never forces anything."""
    from schulit.configs import push_configs
    from schulit.configs.push import tty_progress

    report = RunReport()
    report.sync = run_sync(
        inventory, SyncOptions(today=today), command="nightly", show_progress=show_progress
    )
    for school in report.sync.plan.schools:
        if school.error:
            report.messages.append(f"{school.school_id}: not synced: {school.error}")
        if school.safety_stop:
            report.messages.append(f"{school.school_id}: stopped by the safety limit: {school.safety_stop}")
    for change, error in report.sync.result.failed:
        report.messages.append(f"failed: {change.action} {change.dn}: {error}")
    for change in report.sync.plan.changes:
        if change.action == "probable-rename":
            report.attention.append(
                f"{change.school}: probable rename held: {change.login} ({change.details['from']} -> "
                f"{change.details['to']}, {change.details['origin']}); if it is the same person: schulit "
                f"accounts sync --school {change.school} --confirm-rename {change.login}"
            )
    if purge:
        report.messages.extend(_purge(inventory, today or date.today()))
    if not inventory.servers():
        return report
    # every school is pushed: the configs come from the directory, where a refused export changed nothing
    report.push = push_configs(inventory, progress=tty_progress if show_progress else None)
    for host in report.push.hosts:
        if host.status in ("failed", "unreachable"):
            report.messages.append(f"{host.name}: {host.status}: {host.error}")
    return report


def _purge(inventory: Inventory, today: date) -> list[str]:
    """Nightly purge within the safety limit; a problem line instead of an exception."""
    try:
        service.purge(inventory, today, command="nightly purge")
    except SafetyLimitError as exc:
        return [f"purge: {exc}"]
    return []
