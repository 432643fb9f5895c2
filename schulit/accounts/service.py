"""Entry points used by the CLI, ``term-start`` and ``nightly``: plan and sync with lock, audit and safety."""

from __future__ import annotations

import contextlib
import gc
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import ldap3

from schulit.accounts import ops
from schulit.accounts.actual import reading_directory
from schulit.accounts.apply import ApplyResult, apply_plan
from schulit.accounts.desired import build_desired
from schulit.accounts.diff import plan_changes
from schulit.accounts.lock import (
    AD_LEASE_CLASSES,
    LEASE_CLASSES,
    DirectoryLease,
    default_lock_path,
    directory_lease,
    directory_lock,
    new_token,
    run_lock,
)
from schulit.accounts.model import ActualAccount, DirectoryState, Plan
from schulit.audit import AuditLog
from schulit.directory.connection import connect, connected, disconnect
from schulit.directory.failover import StickyProvider, with_failover
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
    role: str | None = None,
    preset: str | None = None,
) -> tuple[str, tuple[RosterSource, ...]]:
    """``ID=PATH`` → the school's roster sources with one of them replaced by PATH for this run.

    ``role`` (default: mixed for OneRoster, else pupil) says which: pupil or teacher replaces the school's
    roster of that role (a mixed source of the school then still gives the other role), mixed replaces all.
    """
    from schulit.rosters.presets import check_preset

    if "=" not in spec:
        raise SchulitError(f"--roster {spec!r}: expected SCHOOL_ID=PATH")
    school_id, path_text = spec.split("=", 1)
    school = inventory.school(school_id)
    path = Path(path_text).resolve()
    if not path.exists():
        raise SchulitError(f"--roster {spec}: {path} not found")
    if preset is not None:
        try:
            check_preset(preset)
        except ValueError as exc:
            raise SchulitError(f"--preset: {exc}") from None
    wanted = role or ("mixed" if format == "oneroster" else "pupil")
    template = next((s for s in school.rosters if s.role in (wanted, "mixed")), school.rosters[0])
    new = replace(
        template,
        path=path,
        origin=f"--roster {spec}",
        format=format or _format_of(path, template.format, wanted),
        role=wanted,
        encoding=encoding or template.encoding,
        delimiter=delimiter or template.delimiter,
        preset=preset or template.preset,
        columns=template.columns if template.role == wanted else {},
    )
    if new.format == "oneroster" and role is None:
        new = replace(new, role="mixed")
    if new.role == "mixed":
        return school.id, (new,)
    other = "teacher" if new.role == "pupil" else "pupil"
    kept = []
    for source in school.rosters:
        if source.role == other:
            kept.append(source)
        elif source.role == "mixed":
            kept.append(replace(source, role=other))  # the rest of the school's mixed roster
    return school.id, (new, *kept)


def _format_of(path: Path, configured: str, role: str) -> str:
    """A pupil or teacher file given for a school with a OneRoster bundle is CSV unless it looks like one."""
    if configured != "oneroster" or role == "mixed":
        return configured
    return "oneroster" if path.is_dir() or path.suffix.lower() == ".zip" else "csv"


PARALLEL_SCAN_FROM = 256 * 1024  # roster bytes (~5,000 rows) from which two processes read the directory


def compute_plan(
    inventory: Inventory,
    connection: ldap3.Connection,
    options: SyncOptions,
    *,
    show_progress: bool = False,
    parallel_read: bool = True,
) -> Plan:
    """Read rosters and directory and return the plan (no writes)."""
    with _collector_paused():
        return _compute_plan(inventory, connection, options, show_progress, parallel_read)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while hundreds of thousands of small objects are made.

    Reading 100,000 entries allocates millions of lists and strings, none of them in reference cycles;
    the collector's full passes over that growing heap took half the time of the read. Reference counting
    still frees everything; the collector runs again afterwards.

    What was made meanwhile is first moved to the collector's oldest generation (freeze, then unfreeze):
    left in the youngest, the first collection after re-enabling walked all of it (68 ms at 100,000
    accounts, right after the plan). It is still collected there, by the next full pass.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def _compute_plan(
    inventory: Inventory,
    connection: ldap3.Connection,
    options: SyncOptions,
    show_progress: bool,
    parallel_read: bool,
) -> Plan:
    today = options.today or date.today()
    schools = selected_schools(inventory, options.schools)
    size = roster_bytes(inventory, schools, options.roster_overrides)
    parallel = parallel_read and size >= PARALLEL_SCAN_FROM
    # the directory read starts first: with a worker process it goes on while the rosters are read here
    with _reading_actual(inventory, connection, today, parallel) as finish_read:
        with ProgressBar("reading rosters", len(schools)) as bar:
            desired = build_desired(
                inventory,
                schools,
                options.roster_overrides,
                options.skip_bad_rows,
                progress=bar.update if show_progress else None,
            )
        actual = finish_read()
    plan = plan_changes(
        inventory, desired, actual, today, force=options.force, confirmed_renames=options.confirmed_renames
    )
    plan.computed_from = actual
    return plan


def roster_bytes(
    inventory: Inventory, schools: Sequence[str], overrides: Mapping[str, tuple[RosterSource, ...]]
) -> int:
    """The size of the schools' roster files (folders: their files), an estimate of the persons to come."""
    total = 0
    for school_id in schools:
        for source in overrides.get(school_id, inventory.school(school_id).rosters):
            paths = source.path.rglob("*") if source.path.is_dir() else [source.path]
            for path in paths:
                with contextlib.suppress(OSError):
                    total += path.stat().st_size if path.is_file() else 0
    return total


def flavour(inventory: Inventory) -> ModuleType:
    """The module that maps accounts to this directory's objects: OpenLDAP (``ops``) or Samba AD.

    Both offer the same day-to-day operations; the AD one also reads and applies sync plans.
    """
    if inventory.directory.flavour == "samba-ad":
        from schulit.accounts import flavour_ad

        return flavour_ad
    return ops


@contextmanager
def _reading_actual(
    inventory: Inventory, connection: ldap3.Connection, today: date, parallel: bool
) -> Iterator[Callable[[], DirectoryState]]:
    """Start reading the directory; the function given completes the read."""
    if inventory.directory.flavour == "samba-ad":
        yield lambda: flavour(inventory).read_directory(connection, inventory.layout, today)
        return
    parallel = parallel and (os.cpu_count() or 1) > 1
    with reading_directory(
        connection, inventory.layout, today, parallel_with=inventory.directory if parallel else None
    ) as finish:
        yield finish


def _read_actual(
    inventory: Inventory, connection: ldap3.Connection, today: date, parallel: bool
) -> DirectoryState:
    with _reading_actual(inventory, connection, today, parallel) as finish:
        return finish()


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
    options: SyncOptions,
    *,
    command: str,
    confirm: Callable[[Plan], bool] | None = None,
    dry_run: bool = False,
    show_progress: bool = False,
    saved_plan: Plan | None = None,
    on_failover: Callable[[str, str, str], None] | None = None,
) -> SyncOutcome:
    """Plan (or take ``saved_plan``), optionally ask, apply. Holds the run lock (and, when writing, the
    directory lease on the write provider) from the first read to the last write.

    A saved plan is applied only if the directory is still exactly as it was when the plan was made (its
    fingerprint); otherwise nothing is written and the error says so.

    Every connection of the run goes to one provider (``schulit.directory.failover``); if it is gone
    midway, the run starts over on the next provider from a fresh read there (nothing is replayed blindly;
    a saved plan is then checked against the new provider's directory, and refused if it differs).
    """
    provider = StickyProvider(inventory.directory)
    token = new_token()
    with ExitStack() as stack:
        if not dry_run:
            stack.enter_context(run_lock(default_lock_path(inventory.directory), options.lock_timeout))

        def attempt(settings: DirectorySettings) -> SyncOutcome:
            return _sync_on(
                replace(inventory, directory=settings),
                options,
                token,
                confirm,
                command=command,
                dry_run=dry_run,
                show_progress=show_progress,
                saved_plan=saved_plan,
            )

        return with_failover(provider, attempt, on_failover or (lambda _old, _new, _why: None))


def _sync_on(
    inventory: Inventory,
    options: SyncOptions,
    token: str,
    confirm: Callable[[Plan], bool] | None,
    *,
    command: str,
    dry_run: bool,
    show_progress: bool,
    saved_plan: Plan | None,
) -> SyncOutcome:
    """One attempt of a sync against the one provider ``inventory.directory`` addresses."""
    settings = inventory.directory
    with ExitStack() as stack:
        lease: DirectoryLease | None = None
        if not dry_run:
            holder = connect(settings)  # the lease's own connection: renewals between pipelined writes
            stack.callback(disconnect, holder)
            lease = stack.enter_context(
                directory_lease(
                    holder,
                    inventory.layout.system_dn,
                    token,
                    options.lock_timeout,
                    object_classes=AD_LEASE_CLASSES if settings.flavour == "samba-ad" else LEASE_CLASSES,
                )
            )
        # The bulk read goes through a plain SYNC connection: SAFE_SYNC deep-copies every response (a third
        # of the no-change time for 100,000 accounts); the scan is single-threaded anyway.
        scanner = connect(settings, strategy=ldap3.SYNC, bulk_read=True)
        try:
            if saved_plan is None:
                plan = compute_plan(inventory, scanner, options, show_progress=show_progress)
            else:
                plan = saved_plan
                with _collector_paused():
                    now = _read_actual(inventory, scanner, plan.today, parallel=True).fingerprint()
                if now != plan.fingerprint():
                    raise SchulitError(
                        "the saved plan is stale: the directory has changed since it was made; "
                        "nothing was written; make a new plan"
                    )
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

            apply = (
                flavour(inventory).apply_plan if inventory.directory.flavour == "samba-ad" else apply_plan
            )
            result = apply(plan, inventory, reader, writer, audit, progress=tick)
        return SyncOutcome(plan, result)


def load_saved_plan(path: Path) -> Plan:
    """A plan written by ``accounts plan --json``; a clear error for anything else."""
    try:
        return Plan.from_json(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise SchulitError(f"--plan {path}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SchulitError(
            f"--plan {path}: not a plan written by 'schulit accounts plan --json' ({exc})"
        ) from None


# --- day-to-day use cases: each opens its connection, takes the run lock where it writes, and audits


@contextmanager
def writing(inventory: Inventory, command: str) -> Iterator[tuple[ldap3.Connection, AuditLog]]:
    """Run lock, a bound connection and the audit log, for one writing use case."""
    with (
        directory_lock(inventory.directory),
        connected(inventory.directory) as connection,
        AuditLog(inventory.audit_log, command) as audit,
    ):
        yield connection, audit


def list_accounts(
    inventory: Inventory,
    *,
    school: str | None = None,
    class_name: str | None = None,
    state: str | None = None,
) -> list[ActualAccount]:
    """Managed accounts matching the filters (read only, no lock)."""
    backend = flavour(inventory)
    with connected(inventory.directory) as connection:
        return backend.list_accounts(
            connection, inventory.layout, school=school, class_name=class_name, state=state
        )


def show_account(inventory: Inventory, login: str) -> dict[str, Any]:
    """One account as a JSON-ready document, with its groups."""
    backend = flavour(inventory)
    with connected(inventory.directory) as connection:
        account = backend.find_account(connection, inventory.layout, login)
        return backend.account_json(
            account, inventory, backend.account_groups(connection, inventory.layout, login)
        )


def lock_account(inventory: Inventory, login: str, today: date) -> bool:
    """Lock by hand; False if it was locked already."""
    backend = flavour(inventory)
    with writing(inventory, "accounts lock") as (connection, audit):
        account = backend.find_account(connection, inventory.layout, login)
        return backend.lock(connection, account, audit, today, inventory.samba)


def unlock_account(inventory: Inventory, login: str) -> bool:
    """Remove a hand lock; False if it was not locked."""
    backend = flavour(inventory)
    with writing(inventory, "accounts unlock") as (connection, audit):
        account = backend.find_account(connection, inventory.layout, login)
        return backend.unlock(connection, account, audit, inventory.samba)


@dataclass
class PurgeOutcome:
    """What a purge found due and what it deleted."""

    plan: ops.PurgePlan
    deleted: list[str] = field(default_factory=list)

    @property
    def due(self) -> list[str]:
        return [a.dn for a in self.plan.accounts] + self.plan.expired_reservations


def purge(
    inventory: Inventory,
    today: date,
    *,
    dry_run: bool = False,
    force: bool = False,
    confirm: Callable[[ops.PurgePlan], bool] | None = None,
    command: str = "accounts purge",
) -> PurgeOutcome:
    """Delete accounts past the grace period (logins reserved) within the safety limit unless ``force``."""
    backend = flavour(inventory)
    with writing(inventory, command) as (connection, audit):
        outcome = PurgeOutcome(backend.plan_purge(connection, inventory, inventory.layout, today))
        if dry_run or not outcome.due:
            return outcome
        if not force:
            backend.check_purge_limit(outcome.plan, inventory, connection, inventory.layout)
        if confirm is not None and not confirm(outcome.plan):
            return outcome
        outcome.deleted = backend.apply_purge(connection, inventory, inventory.layout, outcome.plan, audit)
        return outcome
