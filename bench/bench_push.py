"""Push of 10 templates to 20 local sshd hosts: schulit vs a bare paramiko loop vs ansible-core, one run.

    python bench/bench_push.py [--hosts 20] [--files 10] [--forks 10] [--no-ansible]

Twenty real sshd instances on 127.0.30.x (own host keys, key-only login) each get the same ten rendered
files below their own root folder. Measured in this one process run:

- schulit ``configs push``: first run (everything written) and no-change run (everything compared);
- reference 1, the floor: a bare paramiko loop that connects, opens SFTP, stats one file and closes, per
  host, with the same number of parallel workers (``--forks``);
- reference 2: ansible-core's ``template`` module doing the same ten files with ``forks`` = ``--forks`` and
  fact gathering off (its fastest fair setting), first run and no-change run.

Targets (SPEC §7): no-change push ≤ 2× the bare loop; ≥ 50× faster than ansible-core's no-change run.
ansible-core is installed by ``pip install -e '.[bench]'`` (``scripts/bench.sh`` does it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import paramiko

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import timed
from schulit.configs import push_configs
from schulit.devservers.slapd import Slapd
from schulit.devservers.sshd import Sshd, make_key
from schulit.inventory import load_inventory

TEMPLATE = """\
# {{ name }} for {{ server.name }} ({{ school.name }}) - managed by schulit, do not edit
{% for n in range(60) -%}
option-{{ n }} = value {{ n * 7 }} of {{ name }} on {{ server.name }}
{% endfor %}
"""

ANSIBLE_TEMPLATE = """\
# {{ name }} for {{ inventory_hostname }} ({{ school_name }}) - managed by schulit, do not edit
{% for n in range(60) -%}
option-{{ n }} = value {{ n * 7 }} of {{ name }} on {{ inventory_hostname }}
{% endfor %}
"""


def write_templates(folder: Path, files: int) -> None:
    role = folder / "bench"
    role.mkdir(parents=True)
    entries = []
    for number in range(files):
        name = f"file{number:02d}"
        (role / f"{name}.conf.j2").write_text("{% set name = '" + name + "' %}" + TEMPLATE)
        entries.append(
            f'[[files]]\nname = "{name}"\ntemplate = "{name}.conf.j2"\ndest = "/etc/bench/{name}.conf"\n'
            f'mode = "0644"\nowner = "root"\ngroup = "root"\nhandlers = ["reload"]\n'
        )
    (role / "files.toml").write_text("\n".join(entries) + '\n[handlers]\nreload = "true"\n')


def write_inventory(
    root: Path, hosts: list[Sshd], key: Path, known_hosts: Path, forks: int, slapd: Slapd
) -> Path:
    (root / "schools").mkdir(parents=True)
    (root / "rosters").mkdir()
    (root / "county.toml").write_text(f"""
[county]
name = "Benchmarkkreis"
short_name = "lk-bench"

[directory]
url = "{slapd.url}"
base_dn = "{slapd.base_dn}"
bind_dn = "{slapd.bind_dn}"
password_file = "{slapd.password_file}"
allow_plaintext_loopback = true

[servers]
secrets_dir = "{root / "secrets"}"

[ssh]
key_file = "{key}"
known_hosts = "{known_hosts}"
connect_timeout = 10
command_timeout = 60
forks = {forks}

[templates]
dir = "{root / "templates"}"
""")
    for number, host in enumerate(hosts):
        school = f"school-{number:02d}"
        (root / "rosters" / f"{school}.csv").write_text("ID;Nachname;Vorname;Klasse\n1;Muster;Max;5a\n")
        (root / "schools" / f"{school}.toml").write_text(f"""
id = "{school}"
name = "Schule {number}"
type = "Oberschule"

[[rosters]]
path = "rosters/{school}.csv"

[[servers]]
name = "srv{number:02d}"
address = "{host.address}"
port = {host.port}
roles = ["bench"]
root = "{root / "hosts" / "schulit" / school}"
""")
    write_templates(root / "templates", 10)
    return root


def bare_loop(hosts: list[Sshd], key: Path, known_hosts: Path, forks: int) -> None:
    """The floor: connect (strict host keys, key auth), SFTP stat one file, close; ``forks`` at a time."""
    private_key = paramiko.Ed25519Key.from_private_key_file(str(key))

    def one(host: Sshd) -> None:
        client = paramiko.SSHClient()
        client.load_host_keys(str(known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            host.address, host.port, username="root", pkey=private_key, allow_agent=False, look_for_keys=False
        )
        sftp = client.open_sftp()
        try:
            sftp.stat("/etc/hostname")
        finally:
            sftp.close()
            client.close()

    with ThreadPoolExecutor(max_workers=forks) as pool:
        list(pool.map(one, hosts))


def write_ansible(root: Path, hosts: list[Sshd], key: Path, known_hosts: Path, files: int) -> Path:
    folder = root / "ansible"
    (folder / "templates").mkdir(parents=True)
    lines = ["[schools]"]
    for number, host in enumerate(hosts):
        lines.append(
            f"srv{number:02d} ansible_host={host.address} ansible_port={host.port} "
            f"school_name='Schule {number}' dest_root={root / 'hosts' / 'ansible' / f'school-{number:02d}'}"
        )
    lines += [
        "[schools:vars]",
        "ansible_user=root",
        f"ansible_ssh_private_key_file={key}",
        "ansible_python_interpreter=/usr/bin/python3",
        f"ansible_ssh_common_args='-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes'",
    ]
    (folder / "hosts.ini").write_text("\n".join(lines) + "\n")
    for number in range(files):
        name = f"file{number:02d}"
        (folder / "templates" / f"{name}.conf.j2").write_text(
            "{% set name = '" + name + "' %}" + ANSIBLE_TEMPLATE
        )
    names = ", ".join(f'"file{n:02d}"' for n in range(files))
    (folder / "push.yml").write_text(f"""
- hosts: schools
  gather_facts: false
  tasks:
    - name: folder
      ansible.builtin.file:
        path: "{{{{ dest_root }}}}/etc/bench"
        state: directory
    - name: configs
      ansible.builtin.template:
        src: "templates/{{{{ item }}}}.conf.j2"
        dest: "{{{{ dest_root }}}}/etc/bench/{{{{ item }}}}.conf"
        mode: "0644"
        owner: root
        group: root
      loop: [{names}]
""")
    return folder


def run_ansible(folder: Path, forks: int) -> None:
    env = {
        **os.environ,
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_LOCAL_TEMP": str(folder / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
    }
    playbook = Path(sys.executable).with_name("ansible-playbook")
    result = subprocess.run(
        [str(playbook), "-i", "hosts.ini", "-f", str(forks), "push.yml"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"ansible-playbook failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--no-ansible", action="store_true", help="skip the ansible-core reference")
    args = parser.parse_args()
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        raise SystemExit("sshd is not installed: run scripts/install-system-deps.sh")
    with_ansible = not args.no_ansible and Path(sys.executable).with_name("ansible-playbook").exists()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="schulit-bench-push-") as tmp:
        root = Path(tmp)
        key = make_key(root / "client" / "id_ed25519", "bench")
        hosts: list[Sshd] = []
        # configs render from the directory (the schools' live state): a throwaway slapd, initialised
        slapd = Slapd(root / "slapd", base_dn="dc=bench,dc=example", durable=False).start()
        try:
            for number in range(args.hosts):
                host = Sshd(root / "sshd" / f"h{number:02d}", f"127.0.30.{number + 1}").start()
                host.authorize(key.with_name(key.name + ".pub"))
                hosts.append(host)
            known_hosts = root / "known_hosts"
            known_hosts.write_text("".join(h.known_hosts_line() + "\n" for h in hosts))
            inventory_dir = write_inventory(root / "inv", hosts, key, known_hosts, args.forks, slapd)
            subprocess.run(
                [sys.executable, "-m", "schulit", "--inventory", str(inventory_dir), "directory", "init"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            inventory = load_inventory(inventory_dir)

            bare_loop(hosts, key, known_hosts, args.forks)  # warm-up (sshd's first fork, page cache)
            with timed("bare", results):
                bare_loop(hosts, key, known_hosts, args.forks)
            with timed("first", results):
                first = push_configs(inventory)
            statuses = [(h.name, h.status, h.error) for h in first.hosts]
            assert first.totals()["changed"] == args.hosts, statuses[:3]
            with timed("nochange", results):
                again = push_configs(inventory)
            assert again.totals()["ok"] == args.hosts, again.totals()
            if with_ansible:
                folder = write_ansible(root, hosts, key, known_hosts, 10)
                with timed("ansible_first", results):
                    run_ansible(folder, args.forks)
                with timed("ansible_nochange", results):
                    run_ansible(folder, args.forks)
        finally:
            for host in hosts:
                host.stop()
            slapd.stop(kill=True)
    print(f"hosts {args.hosts}, files per host 10, forks {args.forks}")
    print(f"bare paramiko loop (connect, stat, close): {results['bare']:.2f} s")
    print(f"schulit first push (all written):          {results['first']:.2f} s")
    print(f"schulit no-change push:                    {results['nochange']:.2f} s")
    ratio = results["nochange"] / results["bare"]
    print(f"ratio no-change / bare loop:               {ratio:.2f}  (target <= 2)")
    if with_ansible:
        print(f"ansible-core first run:                    {results['ansible_first']:.2f} s")
        print(f"ansible-core no-change run:                {results['ansible_nochange']:.2f} s")
        print(
            f"ansible-core no-change / schulit no-change: "
            f"{results['ansible_nochange'] / results['nochange']:.0f}x  (target >= 50)"
        )
    else:
        print("ansible-core: not installed (pip install -e '.[bench]'), reference skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
