"""Entry points used by the CLI, ``term-start`` and ``nightly``: plan and sync with lock, audit and safety."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import ldap3

from schulit.accounts.actual import read_directory
from schulit.accounts.apply import ApplyResult, apply_plan
from schulit.accounts.desired import build_desired
from schulit.accounts.diff import plan_changes
from schulit.accounts.lock import DirectoryLease, default_lock_path, directory_lease, new_token, run_lock
from schulit.accounts.model import Plan
from schulit.audit import AuditLog
from schulit.directory.connection import connect, disconnect
from schulit.directory.failover import StickyProvider, with_failover
from schulit.directory.layout import Layout
from schulit.errors import EXIT_ERROR, EXIT_OK, EXIT_SAFETY_LIMIT, SchulitError
from schulit.inventory import DirectorySettings, Inventory
from schulit.progress import ProgressBar
from schulit.records import RosterSource


@dataclass
class SyncOptions:
    """What one plan/sync run covers and how careful it is."""

    schools: Sequence[str] = ()
    roster_overrides: Mapping[str, tuple[RosterSource, ...]] = field(default_factory=dict)
    skip_bad_rows: bool = False
    force: bool = False
    confirmed_renames: Sequence[str] = ()
    today: date | None = None
    lock_timeout: float = 60.0


def selected_schools(inventory: Inventory, schools: Sequence[str]) -> list[str]:
    """Validate ``--school`` ids (all schools when empty)."""
    if not schools:
        return [s.id for s in inventory.schools]
    return [inventory.school(s).id for s in schools]


def roster_override(
    inventory: Inventory,
    spec: str,
    *,
    format: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> tuple[str, tuple[RosterSource, ...]]:
    """``ID=PATH`` → the school's roster sources with the pupil (or OneRoster) source replaced by PATH."""
    if "=" not in spec:
        raise SchulitError(f"--roster {spec!r}: expected SCHOOL_ID=PATH")
    school_id, path_text = spec.split("=", 1)
    school = inventory.school(school_id)
    path = Path(path_text).resolve()
    if not path.exists():
        raise SchulitError(f"--roster {spec}: {path} not found")
    template = next((s for s in school.rosters if s.role in ("pupil", "mixed")), school.rosters[0])
    new = replace(
        template,
        path=path,
        origin=f"--roster {spec}",
        format=format or template.format,
        encoding=encoding or template.encoding,
        delimiter=delimiter or template.delimiter,
    )
    if new.format == "oneroster":
        new = replace(new, role="mixed")
        return school.id, (new,)
    return school.id, tuple(new if s is template else s for s in school.rosters)


PARALLEL_SCAN_FROM = 5000  # roster persons from which the directory is read by two processes


def compute_plan(
    inventory: Inventory,
    connection: ldap3.Connection,
    options: SyncOptions,
    *,
    show_progress: bool = False,
    settings: DirectorySettings | None = None,
) -> Plan:
    """Read rosters and directory and return the plan (no writes)."""
    with _collector_paused():
        return _compute_plan(inventory, connection, options, show_progress, settings)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while hundreds of thousands of small objects are made.

    Reading 100,000 entries allocates millions of lists and strings, none of them in reference cycles;
    the collector's full passes over that growing heap took half the time of the read. Reference counting
    still frees everything; the collector runs again afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _compute_plan(
    inventory: Inventory,
    connection: ldap3.Connection,
    options: SyncOptions,
    show_progress: bool,
    settings: DirectorySettings | None,
) -> Plan:
    today = options.today or date.today()
    schools = selected_schools(inventory, options.schools)
    with ProgressBar("reading rosters", len(schools)) as bar:
        desired = build_desired(
            inventory,
            schools,
            options.roster_overrides,
            options.skip_bad_rows,
            progress=bar.update if show_progress else None,
        )
    parallel = (
        settings is not None and (os.cpu_count() or 1) > 1 and len(desired.persons) >= PARALLEL_SCAN_FROM
    )
    actual = read_directory(
        connection, Layout(inventory.directory.base_dn), today, parallel_with=settings if parallel else None
    )
    return plan_changes(
        inventory, desired, actual, today, force=options.force, confirmed_renames=options.confirmed_renames
    )


def plan_exit_code(plan: Plan) -> int:
    """1 if a school failed to read, 3 if one was stopped by the safety limit, else 0."""
    if any(r.error for r in plan.schools):
        return EXIT_ERROR
    if any(r.safety_stop for r in plan.schools):
        return EXIT_SAFETY_LIMIT
    return EXIT_OK


@dataclass
class SyncOutcome:
    """A sync's plan, what was applied, and its exit code."""

    plan: Plan
    result: ApplyResult

    @property
    def exit_code(self) -> int:
        if self.result.failed:
            return EXIT_ERROR
        return plan_exit_code(self.plan)


def run_sync(
    inventory: Inventory,
    settings: DirectorySettings,
    options: SyncOptions,
    *,
    command: str,
    confirm: Callable[[Plan], bool] | None = None,
    dry_run: bool = False,
    show_progress: bool = False,
    on_failover: Callable[[str, str, str], None] | None = None,
) -> SyncOutcome:
    """Plan, optionally ask, apply. Holds the run lock (and, when writing, the directory lease on the write
    provider) from the first read to the last write.

    Every connection of the run goes to one provider (``schulit.directory.failover``); if it is gone
    midway, the run starts over on the next provider from a fresh read there (nothing is replayed blindly).
    """
    provider = StickyProvider(settings)
    token = new_token()
    with ExitStack() as stack:
        if not dry_run:
            stack.enter_context(
                run_lock(default_lock_path(settings.url, settings.base_dn), options.lock_timeout)
            )

        def attempt(pinned_settings: DirectorySettings) -> SyncOutcome:
            return _sync_on(
                inventory,
                pinned_settings,
                options,
                token,
                confirm,
                command=command,
                dry_run=dry_run,
                show_progress=show_progress,
            )

        return with_failover(provider, attempt, on_failover or (lambda _old, _new, _why: None))


def _sync_on(
    inventory: Inventory,
    settings: DirectorySettings,
    options: SyncOptions,
    token: str,
    confirm: Callable[[Plan], bool] | None,
    *,
    command: str,
    dry_run: bool,
    show_progress: bool,
) -> SyncOutcome:
    """One attempt of a sync against one provider."""
    with ExitStack() as stack:
        lease: DirectoryLease | None = None
        if not dry_run:
            holder = connect(settings)  # the lease's own connection: renewals between pipelined writes
            stack.callback(disconnect, holder)
            lease = stack.enter_context(
                directory_lease(holder, Layout(settings.base_dn).system_dn, token, options.lock_timeout)
            )
        # The bulk read goes through a plain SYNC connection: SAFE_SYNC deep-copies every response (a third
        # of the no-change time for 100,000 accounts); the scan is single-threaded anyway.
        scanner = connect(settings, strategy=ldap3.SYNC, bulk_read=True)
        try:
            plan = compute_plan(inventory, scanner, options, show_progress=show_progress, settings=settings)
        finally:
            disconnect(scanner)
        if dry_run or not plan.pending or (confirm is not None and not confirm(plan)):
            return SyncOutcome(plan, ApplyResult())
        reader = connect(settings)  # look-ups while applying; opened only when there is something to apply
        stack.callback(disconnect, reader)
        writer = connect(settings, strategy=ldap3.SYNC)  # pipelined by schulit in this thread
        stack.callback(disconnect, writer)
        audit = stack.enter_context(AuditLog(inventory.audit_log, command))
        with ProgressBar("writing directory", len(plan.pending)) as bar:

            def tick(done: int) -> None:
                if lease is not None:
                    lease.renew_if_due()
                if show_progress:
                    bar.update(done)

            result = apply_plan(plan, inventory, reader, writer, audit, progress=tick)
        return SyncOutcome(plan, result)
