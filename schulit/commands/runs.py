"""``schulit term-start`` and ``schulit nightly``: the two runs the tool exists for."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from schulit.accounts.model import Plan
from schulit.commands.accounts import render_plan
from schulit.context import AppContext
from schulit.errors import SchulitError
from schulit.runs import RunReport, over_limit
from schulit.runs import nightly as run_nightly
from schulit.runs import term_start as run_term_start


@click.command("term-start")
@click.option("--school", "schools", multiple=True, metavar="ID", help="Only this school (repeatable).")
@click.option(
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the password letters and the report (created 0700).",
)
@click.option("--yes", is_flag=True, help="Confirm without the typed 'yes' (scripted use).")
@click.option(
    "--force",
    is_flag=True,
    help="Also write schools that the safety limit stops (after you checked their exports).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the final report as one JSON document.")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), hidden=True)
@click.pass_obj
def term_start(
    app: AppContext,
    schools: tuple[str, ...],
    output: Path,
    yes: bool,
    force: bool,
    as_json: bool,
    today: Any,
) -> None:
    """Guided term start: plan, confirm, sync, password letters, configs push, report.

    A school whose export would deactivate more accounts than the safety limit allows is stopped (nothing
    written for it, exit 3) while the others go on; check its export and run again with --force if the
    leavers are real. Running it again after a failure finishes the rest and does nothing twice.
    """
    inventory = app.inventory()
    for school in schools:
        inventory.school(school)

    def confirm(plan: Plan) -> bool:
        if not as_json:
            render_plan(app, plan)
        for school, (count, limit) in sorted(over_limit(plan, inventory).items()):
            app.warn(
                f"{school}: {count} accounts would be deactivated; the safety limit is {limit}, "
                "lifted by --force for this run."
            )
        if not plan.pending:
            return True
        app.info(f"{len(plan.pending)} changes pending")
        if yes:
            return True
        if not sys.stdin.isatty():
            raise SchulitError("not on a terminal: add --yes to confirm")
        answer = click.prompt('Type "yes" to apply these changes', default="", show_default=False)
        return answer.strip().lower() == "yes"

    report = run_term_start(
        inventory,
        schools=schools,
        output=output,
        confirm=confirm,
        force=force,
        today=today.date() if today else None,
        say=app.info if not as_json else _silent,
        show_progress=not (as_json or app.quiet),
    )
    _finish(app, report, as_json)


@click.command("nightly")
@click.option(
    "--purge", is_flag=True, help="Also delete accounts past their grace period (safety limit kept)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON document.")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), hidden=True)
@click.pass_obj
def nightly(app: AppContext, purge: bool, as_json: bool, today: Any) -> None:
    """Unattended: sync all schools (safety limits kept), then push configs. Quiet on success.

    Any problem: a short report on stderr (one line per problem, journald/syslog friendly) and a non-zero
    exit code (1 error, 2 a probable rename waits for an admin, 3 safety limit, 4 hosts failed).
    --verbose prints the summary on success too.
    """
    report = run_nightly(
        app.inventory(),
        today=today.date() if today else None,
        purge=purge,
        show_progress=app.verbose and not as_json,
    )
    if as_json:
        _finish(app, report, as_json)
        return
    if report.exit_code or app.verbose:
        for line in summary_lines(report):
            app.warn(f"nightly: {line}")
    for message in report.messages + report.attention:
        app.warn(f"nightly: {message}")
    if report.exit_code:
        app.warn(f"nightly: finished with exit code {report.exit_code}")
        sys.exit(report.exit_code)


def summary_lines(report: RunReport) -> list[str]:
    """One line for the accounts and one per school and host class: what the run did."""
    lines = []
    if report.sync is not None:
        actions = Counter(change.action for change in report.sync.result.applied)
        detail = " ".join(f"{action}={count}" for action, count in sorted(actions.items()))
        lines.append(
            f"accounts: {len(report.sync.result.applied)} changes applied, "
            f"{len(report.sync.result.failed)} failed" + (f" ({detail})" if detail else "")
        )
    if report.push is not None:
        totals = report.push.totals()
        lines.append("configs: " + " ".join(f"{k}={v}" for k, v in totals.items()))
    return lines


def _silent(_message: str) -> None:
    return None


def _finish(app: AppContext, report: RunReport, as_json: bool) -> None:
    """term-start's final report: accounts, letters, hosts; exit with the run's code."""
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    elif not app.quiet:
        click.echo("\nREPORT")
        for line in summary_lines(report):
            click.echo(line)
        for school, pdf, count in report.letters:
            click.echo(f"letters {school:<24} {count:>5}  {pdf}")
        if report.push is not None:
            from schulit.configs import format_recap

            click.echo(format_recap(report.push))
    for message in report.messages + report.attention:
        app.warn(message)
    if report.exit_code:
        app.warn(f"finished with exit code {report.exit_code}")
        sys.exit(report.exit_code)
