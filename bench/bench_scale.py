"""Land scale: no-change and 1 % churn syncs at 10,000 / 100,000 / 1,000,000 accounts; cost per account.

    python bench/bench_scale.py [--sizes 10000,100000,1000000] [--per-school 1000]

For each size, one throwaway slapd (dbnosync) is seeded with ``slapadd`` from an initial plan of schulit's
own (computed in a child process, so its memory is not counted; fast {SSHA} hashes), then:

1. ``schulit accounts sync --yes`` with nothing to change (a subprocess: wall time and its peak RSS);
2. one stock ``ldapsearch`` of the same subtree (all user attributes, output discarded): the reference;
3. a sync after 1 % churn (per school: 0.5 % leave, as many join, 0.5 % change class).

Targets (issue 15): 1,000,000 no-change in < 60 s and < 4 GiB; cost per account at 1,000,000 no worse
than at 100,000. The growth table at the end prints both ratios.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_load import churn
from bench.common import ldapsearch_all, seed_with_slapadd, write_county
from schulit.devservers.slapd import Slapd

GIB = 1024**3


@dataclass
class Row:
    accounts: int
    seed_s: float = 0.0
    ldapsearch_s: float = 0.0
    nochange_s: float = 0.0
    nochange_rss: int = 0
    churn_s: float = 0.0
    churn_changes: str = ""
    churn_rss: int = 0


def measure(size: int, per_school: int, root: Path) -> Row:
    row = Row(size)
    slapd = Slapd(root / "slapd", base_dn="dc=bench,dc=example", durable=False).start()
    try:
        inventory = write_county(
            root / "inventory",
            slapd,
            size,
            max(1, size // per_school),
            hash_scheme="ssha",
            distinct_names=True,
        )
        config = inventory / "county.toml"
        config.write_text(config.read_text().replace("uid_last = 999999", "uid_last = 9999999"))
        started = time.perf_counter()
        seed_with_slapadd(slapd, inventory, root / "seed.ldif")
        row.seed_s = time.perf_counter() - started
        print(f"{size:>9,} accounts: seeded in {row.seed_s:.1f} s", flush=True)

        row.nochange_s, row.nochange_rss, _out = _sync_rusage(inventory)
        started = time.perf_counter()
        ldapsearch_all(slapd)
        row.ldapsearch_s = time.perf_counter() - started
        print(
            f"{size:>9,} accounts: no-change {row.nochange_s:.2f} s, ldapsearch {row.ldapsearch_s:.2f} s, "
            f"peak RSS {row.nochange_rss / 2**20:.0f} MiB",
            flush=True,
        )
        left, joined, moved = churn(inventory / "rosters", 1.0)
        row.churn_changes = f"{left} left, {joined} new, {moved} class changes"
        row.churn_s, row.churn_rss, _out = _sync_rusage(inventory)
        print(f"{size:>9,} accounts: 1 % churn ({row.churn_changes}) {row.churn_s:.2f} s", flush=True)
    finally:
        slapd.stop(kill=True)
    return row


def _sync_rusage(inventory: Path) -> tuple[float, int, str]:
    """Like run_schulit, with the child's own peak RSS (os.wait4 on exactly that child)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "schulit",
            "--inventory",
            str(inventory),
            "--quiet",
            "accounts",
            "sync",
            "--yes",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "SCHULIT_LOCK_FILE": str(inventory / "schulit.lock")},
    )
    assert process.stdout is not None and process.stderr is not None
    out = process.stdout.read()
    err = process.stderr.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"sync failed ({process.returncode}): {err.decode()[-2000:]}")
    return elapsed, usage.ru_maxrss * 1024, out.decode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--per-school", type=int, default=1000)
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="schulit-scale-") as tmp:
            rows.append(measure(size, args.per_school, Path(tmp)))
    print()
    print("| accounts | ldapsearch | no-change | ratio | µs/account | growth | peak RSS | 1 % churn |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    previous = None
    for row in rows:
        per_account = row.nochange_s / row.accounts * 1e6
        growth = f"{per_account / previous:.2f}x" if previous else "—"
        print(
            f"| {row.accounts:,} | {row.ldapsearch_s:.2f} s | {row.nochange_s:.2f} s | "
            f"{row.nochange_s / row.ldapsearch_s:.1f}x | {per_account:.1f} | {growth} | "
            f"{row.nochange_rss / 2**20:.0f} MiB | {row.churn_s:.2f} s ({row.churn_changes}) |"
        )
        previous = per_account
    big = [r for r in rows if r.accounts >= 1_000_000]
    for row in big:
        fast = "met" if row.nochange_s < 60 else "NOT met"
        small = "met" if row.nochange_rss < 4 * GIB else "NOT met"
        print(
            f"{row.accounts:,} targets: no-change {row.nochange_s:.1f} s (< 60 s: {fast}), "
            f"peak RSS {row.nochange_rss / GIB:.2f} GiB (< 4 GiB: {small})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
