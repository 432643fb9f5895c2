"""The dhcp role against the real dnsmasq, started the way Debian's unit starts it on the pushed files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from schulit.devservers.dnsmasq import Dnsmasq
from schulit.devservers.slapd import Slapd
from schulit.devservers.sshd import Sshd
from tests.integration.test_configs_push import Fleet, handlers


@pytest.fixture
def fleet(
    tmp_path: Path, sshd_hosts: list[Sshd], ssh_client_key: Path, known_hosts_file: Path, slapd: Slapd
) -> Fleet:
    return Fleet(tmp_path / "inventory", sshd_hosts, ssh_client_key, known_hosts_file, slapd)


def new_handlers(root: Path, before: list[str]) -> list[str]:
    return sorted(handlers(root)[len(before) :])


def test_pushed_dhcp_files_are_what_debians_dnsmasq_runs(
    fleet: Fleet, dnsmasq_on: Callable[[Path], Dnsmasq]
) -> None:
    root = fleet.school(0, validate_dnsmasq=None)  # the template's own validate: dnsmasq --test, conf-dir
    first = fleet.push()
    assert first.exit_code == 0, first.output
    # Debian's dnsmasq reads every file in /etc/dnsmasq.d as configuration: only the config goes there
    assert sorted(p.name for p in (root / "etc/dnsmasq.d").iterdir()) == ["schule.conf"]
    server = dnsmasq_on(root)
    assert server.check().returncode == 0, server.check().stderr
    assert server.query("drucker.gs-t0.schule.example") == ("NOERROR", ["10.0.0.20"])
    assert server.query("beamer.gs-t0.schule.example")[1] == []

    # a new device is hosts data only: SIGHUP (reload) is enough, and it is all the push asks for
    before = handlers(root)
    fleet.school(0, validate_dnsmasq=None, network=Fleet.network(0, devices=(("beamer", "30"),)))
    second = fleet.push()
    assert second.exit_code == 0, second.output
    assert new_handlers(root, before) == ["reload-dnsmasq"]
    server.reload()
    assert server.query("beamer.gs-t0.schule.example") == ("NOERROR", ["10.0.0.30"])
    assert "52:54:00:00:01:00,beamer,10.0.0.30" in (root / "etc/schulit/dnsmasq/dhcp-hosts").read_text()

    # a changed dhcp-range is configuration, which dnsmasq reads only at start: the push restarts it
    before = handlers(root)
    old_conf = (root / "etc/dnsmasq.d/schule.conf").read_text()
    network = Fleet.network(0, dhcp_end="10.0.2.100", devices=(("beamer", "30"),))
    fleet.school(0, validate_dnsmasq=None, network=network)
    third = fleet.push()
    assert third.exit_code == 0, third.output
    assert new_handlers(root, before) == ["restart-dnsmasq"]
    assert "dhcp-range=10.0.1.10,10.0.2.100,12h" in (root / "etc/dnsmasq.d/schule.conf").read_text()
    # the backup is kept outside the conf-dir, where dnsmasq would read it as a second config
    assert sorted(p.name for p in (root / "etc/dnsmasq.d").iterdir()) == ["schule.conf"]
    backup = root / "var/backups/schulit/etc/dnsmasq.d/schule.conf.schulit-bak"
    assert backup.read_text() == old_conf
    assert server.check().returncode == 0, server.check().stderr
    first_pid = server.pid
    server.restart()
    assert server.pid != first_pid
    assert server.query("drucker.gs-t0.schule.example") == ("NOERROR", ["10.0.0.20"])
    assert "10.0.1.10 -- 10.0.2.100" in server.log_file.read_text()


def test_validate_checks_the_conf_dir_the_way_the_unit_does(fleet: Fleet) -> None:
    root = fleet.school(0, validate_dnsmasq=None)
    assert fleet.push().exit_code == 0
    # what the old template set left behind: a hosts file inside /etc/dnsmasq.d, which the unit refuses
    stray = root / "etc/dnsmasq.d/schule.hosts"
    stray.write_text("10.0.0.20\tdrucker.gs-t0.schule.example drucker\n")
    good = (root / "etc/dnsmasq.d/schule.conf").read_text()
    fleet.school(0, validate_dnsmasq=None, network=Fleet.network(0, dhcp_end="10.0.2.200"))
    result = fleet.push("--json")
    assert result.exit_code == 4, result.output
    files = {Path(f["path"]).name: f for f in json.loads(result.output)["hosts"][0]["files"]}
    assert files["schule.conf"]["status"] == "failed"
    assert "bad option at line 1 of" in files["schule.conf"]["error"]
    assert (root / "etc/dnsmasq.d/schule.conf").read_text() == good

    stray.unlink()
    again = fleet.push()
    assert again.exit_code == 0, again.output
    assert "10.0.2.200" in (root / "etc/dnsmasq.d/schule.conf").read_text()


def test_dhcp_hosts_are_checked_by_dnsmasqs_parser(fleet: Fleet) -> None:
    root = fleet.school(0, validate_dnsmasq=None)
    template = fleet.templates / "dhcp" / "dhcp-hosts.j2"
    template.write_text(template.read_text() + "52:54:00:zz:00:01,kaputt,10.0.0.99\n")
    result = fleet.push("--json")
    assert result.exit_code == 4
    files = {Path(f["path"]).name: f for f in json.loads(result.output)["hosts"][0]["files"]}
    assert files["dhcp-hosts"]["status"] == "failed", files["dhcp-hosts"]
    assert not (root / "etc/schulit/dnsmasq/dhcp-hosts").exists()
