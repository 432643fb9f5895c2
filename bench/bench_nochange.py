"""No-change nightly sync of N accounts: how long schulit takes to find out there is nothing to do.

    python bench/bench_nochange.py [--pupils 100000]

The directory is loaded with slapadd (dbnosync) from a plan of schulit's own, so the sync afterwards finds
nothing to change. Printed: the no-change sync time (rosters read, directory read, diff) and, as the
reference from the same run, the time of a stock ``ldapsearch`` of the whole subtree. Targets: < 10 s, and
within 6x that ldapsearch (issue 15).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ldapsearch_all, seed_with_slapadd, timed, write_county
from schulit.accounts.service import SyncOptions, run_sync
from schulit.devservers.slapd import Slapd
from schulit.inventory import load_inventory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pupils", type=int, default=100000)
    parser.add_argument("--schools", type=int, default=100)
    args = parser.parse_args()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="schulit-bench-") as tmp:
        root = Path(tmp)
        slapd = Slapd(root / "slapd", base_dn="dc=bench,dc=example", durable=False).start()
        try:
            root_inventory = write_county(
                root / "inventory", slapd, args.pupils, args.schools, hash_scheme="ssha"
            )
            started = time.perf_counter()
            seed_with_slapadd(slapd, root_inventory, root / "seed.ldif")
            print(f"seeded {args.pupils} accounts with slapadd in {time.perf_counter() - started:.1f} s")
            inventory = load_inventory(root_inventory)
            with timed("ldapsearch", results):
                ldapsearch_all(slapd)
            with timed("schulit", results):
                outcome = run_sync(inventory, SyncOptions(lock_timeout=5), command="bench")
            assert not outcome.plan.pending, outcome.plan.pending[:3]
        finally:
            slapd.stop(kill=True)
    print(f"ldapsearch of the whole subtree:   {results['ldapsearch']:.2f} s")
    ratio = results["schulit"] / results["ldapsearch"]
    print(
        f"schulit no-change sync:            {results['schulit']:.2f} s  (target < 10 s)  "
        f"ratio {ratio:.1f}x ldapsearch (target within 6x: {'met' if ratio <= 6 else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
