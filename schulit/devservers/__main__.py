"""Start/stop the local servers the demo inventory points at: ``python -m schulit.devservers up|down``.

- the name key file (``identity.name_key_file``, 0600, random) if it does not exist yet;
- one slapd at the inventory's directory URL (a loopback ``ldap://`` URL), base DN and bind DN from the
  inventory, its bind password written to the inventory's ``password_file`` (0600), with the access rules
  of ``schulit directory acl`` and Samba's schema when the inventory enables Samba;
- one sshd per server of the inventory, at the server's loopback address and port, with its own host key;
  the client key (``ssh.key_file``) and ``ssh.known_hosts`` are generated for it; each server's ``root``
  folder is created (files pushed to that "host" land there).

State lives in ``--state`` (default /var/tmp/schulit-demo). Running ``up`` again reuses what is running.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

from schulit.devservers.slapd import Slapd, samba_schema
from schulit.directory.acl import county_rules, format_slapd_conf
from schulit.directory.connection import is_loopback
from schulit.inventory import Inventory, load_inventory

DEFAULT_STATE = "/var/tmp/schulit-demo"  # noqa: S108 - fixed so the demo inventory can name it; ownership checked


def _own_state_dir(state: Path) -> None:
    """Create the state folder, or refuse one that someone else made (a fixed path in /var/tmp)."""
    state.mkdir(mode=0o755, parents=True, exist_ok=True)
    info = state.lstat()
    if state.is_symlink() or info.st_uid != os.getuid():
        raise SystemExit(f"devservers: {state} is a symlink or not owned by you; remove it first")


def _slapd_for(inventory: Inventory, state: Path) -> Slapd:
    parsed = urlparse(inventory.directory.url)
    if parsed.scheme != "ldap" or not is_loopback(parsed.hostname or "") or not parsed.port:
        raise SystemExit(
            f"devservers: directory url {inventory.directory.url} is not a loopback ldap://host:port URL"
        )
    leading, rules = county_rules(inventory)
    return Slapd(
        state / "slapd",
        base_dn=inventory.directory.base_dn,
        address=parsed.hostname or "127.0.0.1",
        port=parsed.port,
        durable=True,
        bind_password_file=inventory.directory.password_file,
        extra_schemas=(samba_schema(state / "schema"),) if inventory.samba.enabled else (),
        access=(format_slapd_conf(rules, inventory.directory.base_dn, leading),),
    )


def _check_bind_dn(inventory: Inventory, slapd: Slapd) -> None:
    if inventory.directory.bind_dn.lower() != slapd.bind_dn.lower():
        raise SystemExit(f"devservers: bind_dn must be {slapd.bind_dn} for the local slapd")


def up(inventory: Inventory, state: Path) -> None:
    """Start whatever is not running yet."""
    from schulit.rosters.namekey import create_name_key_file

    key_file = inventory.identity.name_key_file
    if key_file is not None and create_name_key_file(key_file):
        print(f"name key created at {key_file} (0600)")
    slapd = _slapd_for(inventory, state)
    _check_bind_dn(inventory, slapd)
    if slapd.running():
        print(f"slapd already running at {slapd.url} (pid {slapd.pid()})")
    else:
        slapd.start()
        print(f"slapd started at {slapd.url}, base {slapd.base_dn} (pid {slapd.pid()})")
    from schulit.devservers.sshd import start_inventory_hosts

    for line in start_inventory_hosts(inventory, state / "sshd"):
        print(line)


def down(inventory: Inventory, state: Path) -> None:
    """Stop every local server of this inventory."""
    slapd = _slapd_for(inventory, state)
    if slapd.running():
        slapd.stop()
        print(f"slapd stopped ({slapd.url})")
    from schulit.devservers.sshd import stop_inventory_hosts

    for line in stop_inventory_hosts(inventory, state / "sshd"):
        print(line)


def ask_dnsmasq(root: Path, state: Path, names: list[str]) -> None:
    """Start dnsmasq as Debian's unit does on the files pushed below ``root`` (a private network
    namespace), print its answers for ``names``, stop it."""
    from schulit.devservers.dnsmasq import Dnsmasq

    check = Dnsmasq(root, state).check()
    print(f"dnsmasq --test -7 /etc/dnsmasq.d,.dpkg-dist,.dpkg-old,.dpkg-new: {check.stderr.strip()}")
    server = Dnsmasq(root, state).start()
    try:
        for name in names:
            rcode, answers = server.query(name)
            print(f"{name}: {rcode} {' '.join(answers)}")
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m schulit.devservers", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["up", "down", "dnsmasq"])
    parser.add_argument("--inventory", default="inventories/demo", type=Path)
    parser.add_argument("--state", default=DEFAULT_STATE, type=Path)
    parser.add_argument("--root", type=Path, help="dnsmasq: the host root the files were pushed to")
    parser.add_argument("names", nargs="*", help="dnsmasq: names to ask for")
    args = parser.parse_intermixed_args(argv)
    if args.action == "dnsmasq":
        ask_dnsmasq(args.root, args.state / "dnsmasq", args.names)
        return 0
    inventory = load_inventory(args.inventory)
    _own_state_dir(args.state)
    if args.action == "up":
        up(inventory, args.state)
    else:
        down(inventory, args.state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
