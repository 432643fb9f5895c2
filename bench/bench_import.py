"""Initial import of N accounts into a durable slapd: schulit's sync vs ldapadd of the very same entries.

    python bench/bench_import.py [--pupils 10000] [--hash crypt-sha512|ssha] [--transactions]

Both runs go to a fresh, durable (fsync) slapd on loopback, in this one process run. schulit's time covers
everything an admin waits for: reading the rosters, reading the directory, planning, generating and hashing
the passwords, writing the 0600 delivery files and all LDAP adds. ldapadd gets the LDIF dumped from the
directory schulit built (same entries, same hashes). Target (SPEC §7): ratio ≤ 1.2.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ldapadd, ldif_dump, timed, write_county
from schulit.accounts.service import SyncOptions, run_sync
from schulit.devservers.slapd import Slapd
from schulit.inventory import load_inventory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pupils", type=int, default=10000)
    parser.add_argument("--schools", type=int, default=10)
    parser.add_argument("--hash", default="crypt-sha512", choices=["crypt-sha512", "ssha"])
    parser.add_argument("--transactions", action="store_true", help="directory.transactions = true")
    args = parser.parse_args()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="schulit-bench-") as tmp:
        root = Path(tmp)
        ours = Slapd(root / "slapd-schulit", base_dn="dc=bench,dc=example", durable=True).start()
        reference = Slapd(root / "slapd-ldapadd", base_dn="dc=bench,dc=example", durable=True).start()
        try:
            inventory = load_inventory(
                write_county(
                    root / "inventory",
                    ours,
                    args.pupils,
                    args.schools,
                    hash_scheme=args.hash,
                    transactions=args.transactions,
                )
            )
            with timed("schulit", results):
                outcome = run_sync(inventory, SyncOptions(lock_timeout=5), command="bench")
            assert not outcome.result.failed, outcome.result.failed[:3]
            entries = len(outcome.result.applied)
            ldif = ldif_dump(ours)
            with timed("ldapadd", results):
                ldapadd(reference, ldif)
        finally:
            ours.stop()
            reference.stop()
    ratio = results["schulit"] / results["ldapadd"]
    mode = "in transactions" if args.transactions else "one by one (pipelined)"
    print(f"entries written:           {entries} ({args.pupils} accounts + groups + OUs)")
    print(f"hash, writes:              {args.hash}, {mode}")
    print(f"ldapadd (same entries):    {results['ldapadd']:.2f} s  ({entries / results['ldapadd']:.0f}/s)")
    print(f"schulit accounts sync:     {results['schulit']:.2f} s  ({entries / results['schulit']:.0f}/s)")
    print(f"ratio schulit / ldapadd:   {ratio:.2f}  (target <= 1.2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
