"""A county 10x the demo: 40,000 accounts over 80 schools: import, 2 % churn, no-change, purge; memory.

    python bench/bench_load.py [--pupils 40000] [--schools 80] [--hash crypt-sha512|ssha]

One durable (fsync) slapd on loopback. Steps, each timed in this one process run:

1. initial sync of every account (reference: ``ldapadd`` of the same entries into a second durable slapd);
2. re-sync after 2 % churn per school (1 % leavers → deactivated, 1 % newcomers, plus class changes);
3. a no-change sync (reference: one ``ldapsearch`` of the whole subtree);
4. ``accounts purge`` 91 days later (the leavers' grace period has passed).

Peak memory (max RSS of this process) is printed at the end.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from click.testing import CliRunner

from bench.common import ldapadd, ldapsearch_all, ldif_dump, timed, write_county
from schulit.accounts.service import SyncOptions, run_sync
from schulit.cli import cli
from schulit.devservers.slapd import Slapd
from schulit.inventory import load_inventory


def churn(rosters: Path, percent: float) -> tuple[int, int, int]:
    """Per school: ``percent/2`` % of the rows leave, as many newcomers join, as many change class."""
    left = joined = moved = 0
    next_id = 900_000_000
    step = max(2, round(200 / percent))
    for path in sorted(rosters.glob("*.csv")):
        header, *rows = path.read_text(encoding="utf-8").splitlines()
        kept = []
        for index, row in enumerate(rows):
            if index % step == 0:
                continue
            if index % step == 1:
                number, last, first, _klasse = row.split(";")
                row = f"{number};{last};{first};13z"
                moved += 1
            kept.append(row)
        newcomers = [f"{next_id + i};Neumann{i};Nina;5n" for i in range(len(rows) - len(kept))]
        next_id += len(newcomers)
        left += len(newcomers)
        joined += len(newcomers)
        path.write_text("\n".join([header, *kept, *newcomers]) + "\n", encoding="utf-8")
    return left, joined, moved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pupils", type=int, default=40000)
    parser.add_argument("--schools", type=int, default=80)
    parser.add_argument("--hash", default="crypt-sha512", choices=["crypt-sha512", "ssha"])
    args = parser.parse_args()
    results: dict[str, float] = {}
    day = date(2026, 8, 20)
    with tempfile.TemporaryDirectory(prefix="schulit-bench-load-") as tmp:
        root = Path(tmp)
        ours = Slapd(root / "slapd-schulit", base_dn="dc=bench,dc=example", durable=True).start()
        reference = Slapd(root / "slapd-ldapadd", base_dn="dc=bench,dc=example", durable=True).start()
        try:
            inventory_dir = write_county(
                root / "inventory", ours, args.pupils, args.schools, hash_scheme=args.hash
            )
            inventory = load_inventory(inventory_dir)

            with timed("import", results):
                first = run_sync(inventory, SyncOptions(today=day, lock_timeout=5), command="bench")
            assert not first.result.failed, first.result.failed[:3]
            entries = len(first.result.applied)
            ldif = ldif_dump(ours)
            with timed("ldapadd", results):
                ldapadd(reference, ldif)

            left, joined, moved = churn(inventory_dir / "rosters", 2.0)
            with timed("churn", results):
                second = run_sync(inventory, SyncOptions(today=day, lock_timeout=5), command="bench"
                )
            assert not second.result.failed, second.result.failed[:3]
            assert not any(s.safety_stop or s.error for s in second.plan.schools), second.plan.schools[:2]
            churn_changes = len(second.result.applied)

            with timed("ldapsearch", results):
                ldapsearch_all(ours)
            with timed("nochange", results):
                third = run_sync(inventory, SyncOptions(today=day, lock_timeout=5), command="bench")
            assert not third.plan.pending, third.plan.pending[:3]

            later = (day + timedelta(days=91)).isoformat()
            with timed("purge", results):
                purged = CliRunner().invoke(
                    cli,
                    [
                        "--quiet",
                        "--inventory",
                        str(inventory_dir),
                        "accounts",
                        "purge",
                        "--yes",
                        "--today",
                        later,
                    ],
                )
            assert purged.exit_code == 0, purged.output
        finally:
            ours.stop()
            reference.stop()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"county: {args.pupils} pupils in {args.schools} schools, hash {args.hash}, durable slapd")
    print(
        f"initial sync:        {results['import']:7.2f} s  ({entries} entries; ldapadd of the same: "
        f"{results['ldapadd']:.2f} s, ratio {results['import'] / results['ldapadd']:.2f})"
    )
    print(
        f"2 % churn re-sync:   {results['churn']:7.2f} s  ({churn_changes} changes: {left} leavers "
        f"deactivated, {joined} newcomers, {moved} class changes, with group updates)"
    )
    print(
        f"no-change sync:      {results['nochange']:7.2f} s  (ldapsearch of the subtree: "
        f"{results['ldapsearch']:.2f} s, ratio {results['nochange'] / results['ldapsearch']:.1f})"
    )
    print(f"purge after 91 days: {results['purge']:7.2f} s  ({left} leavers deleted, logins reserved)")
    print(f"peak memory (max RSS of this process): {peak_mib:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
