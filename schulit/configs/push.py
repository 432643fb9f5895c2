"""Push rendered files to school servers: compare, (diff), upload to a temp file, validate, back up, rename.

Per host, in one connection: every file is compared byte for byte with what the host has; an unchanged file is
never written. A changed file is uploaded next to its target as ``.<name>.schulit-<random>``, given its mode
and owner, validated (the temp file, ``%s``), the old version optionally backed up, and then renamed over the
target with ``posix_rename`` (atomic: readers see the old or the new file, never half of one). Handlers run
once per host after its files, only if a file they watch changed. Hosts run in parallel; one host's failure
never touches another's.

Interruptions: before the first changed file is installed, the handlers it (and every other changed file)
will need are written to ``/var/lib/schulit/pending-handlers`` on the host (below the server's root); the
entry is cleared only once the handler has run successfully. A push that dies midway (connection lost,
SIGTERM) therefore leaves the handlers for the files it did install pending, and the next push runs them even
though those files are now unchanged. On Ctrl-C or SIGTERM no further host is started and each running host
stops after the file it is installing. Temp files a dead connection left behind are removed by the next push
that installs the same file. A file that cannot be written (read-only or full file system) fails on its
own; the host's other files are still pushed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import fnmatch
import posixpath
import re
import secrets
import shlex
import stat
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import ldap3

from schulit.audit import AuditLog
from schulit.configs.render import Folder, HostFiles, RenderedFile, render_hosts
from schulit.configs.transport import (
    HostConnection,
    HostRefused,
    Unreachable,
    check_private_key,
    load_private_key,
)
from schulit.directory.connection import connected
from schulit.errors import EXIT_HOSTS_FAILED, EXIT_OK, SchulitError
from schulit.inventory import Inventory, Server
from schulit.servers.identities import apply_identities, plan_identities, secret_store
from schulit.servers.secrets import PLACEHOLDER


@dataclass
class FileResult:
    """What happened to one file on one host."""

    path: str
    status: str  # ok | changed | would-change | failed
    diff: str = ""
    error: str = ""


@dataclass
class HostResult:
    """What happened on one host."""

    name: str
    school: str
    address: str
    status: str = "ok"  # ok | changed | failed | unreachable
    files: list[FileResult] = field(default_factory=list)
    handlers: list[str] = field(default_factory=list)
    error: str = ""

    def to_json(self, with_diff: bool) -> dict[str, Any]:
        return {
            "name": self.name,
            "school": self.school,
            "address": self.address,
            "status": self.status,
            "error": self.error,
            "handlers": self.handlers,
            "files": [
                {
                    "path": f.path,
                    "status": f.status,
                    "error": f.error,
                    **({"diff": f.diff} if with_diff and f.diff else {}),
                }
                for f in self.files
            ],
        }


@dataclass
class PushResult:
    """All hosts of one push."""

    hosts: list[HostResult]
    check: bool
    diff: bool

    @property
    def exit_code(self) -> int:
        return (
            EXIT_HOSTS_FAILED if any(h.status in ("failed", "unreachable") for h in self.hosts) else EXIT_OK
        )

    def totals(self) -> dict[str, int]:
        totals = {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0}
        for host in self.hosts:
            totals[host.status] += 1
        return totals

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "hosts": [h.to_json(self.diff) for h in self.hosts],
            "totals": self.totals(),
            "exit_code": self.exit_code,
        }


def select_servers(inventory: Inventory, limits: Sequence[str]) -> list[Server]:
    """Servers matching any pattern (school id, server name, or a glob on either); all without patterns."""
    servers = inventory.servers()
    if not limits:
        return servers
    chosen = [
        s
        for s in servers
        if any(fnmatch.fnmatch(s.name, p) or fnmatch.fnmatch(s.school_id, p) for p in limits)
    ]
    if not chosen:
        raise SchulitError(f"--limit {' '.join(limits)} matches no server")
    return chosen


def unified_diff(host: str, path: str, old: bytes | None, new: bytes) -> str:
    before = (old or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
    after = new.decode("utf-8", errors="replace").splitlines(keepends=True)
    return "".join(
        difflib.unified_diff(
            before,
            after,
            fromfile=f"{host}:{path}" + ("" if old is not None else " (absent)"),
            tofile=f"{host}:{path} (rendered)",
        )
    )


class _Ids:
    """Owner and group names → numbers on one host (read /etc/passwd and /etc/group once)."""

    def __init__(self, connection: HostConnection):
        self.connection = connection
        self.users: dict[str, int] | None = None
        self.groups: dict[str, int] | None = None

    @staticmethod
    def _parse(data: bytes | None) -> dict[str, int]:
        table = {}
        for line in (data or b"").decode("utf-8", errors="replace").splitlines():
            parts = line.split(":")
            if len(parts) > 2 and parts[2].isdigit():
                table[parts[0]] = int(parts[2])
        return table

    def lookup(self, database: str, names: Sequence[str]) -> dict[str, int]:
        """Name → number for users or groups from the host's NSS (``getent``; directory groups too)."""
        if not names:
            return {}
        outcome = self.connection.run(f"getent {database} " + " ".join(shlex.quote(n) for n in names))
        return self._parse(outcome.output.encode())

    def ids(self, owner: str, group: str) -> tuple[int, int]:
        if self.users is None:
            self.users = self._parse(self.connection.read("/etc/passwd"))
            self.groups = self._parse(self.connection.read("/etc/group"))
        assert self.groups is not None
        if owner not in self.users:
            raise SchulitError(f"owner {owner!r} does not exist on the host")
        if group not in self.groups:
            raise SchulitError(f"group {group!r} does not exist on the host")
        return self.users[owner], self.groups[group]


PENDING_HANDLERS = "/var/lib/schulit/pending-handlers"


class Interrupted(Exception):
    """The push was interrupted (Ctrl-C, SIGTERM) while this host was in progress."""


def _pending_path(server: Server) -> str:
    return posixpath.normpath(posixpath.join(server.root, PENDING_HANDLERS.lstrip("/")))


def _read_pending(connection: HostConnection, path: str) -> list[str]:
    text = (connection.read(path) or b"").decode("utf-8", errors="replace")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _write_pending(connection: HostConnection, path: str, handlers: Sequence[str]) -> None:
    """Replace the host's pending-handlers file atomically (remove it when nothing is pending)."""
    try:
        if not handlers:
            with contextlib.suppress(FileNotFoundError):
                connection.sftp.remove(path)
            return
        directory, name = posixpath.split(path)
        connection.ensure_directory(directory)
        _remove_stale_temps(connection, directory, name)
        temp = posixpath.join(directory, f".{name}.schulit-{secrets.token_hex(4)}")
        connection.write(temp, "".join(f"{h}\n" for h in handlers).encode(), 0o600)
        connection.sftp.posix_rename(temp, path)
    except OSError as exc:
        if not connection.active():
            raise
        raise SchulitError(
            f"cannot record pending handlers in {path}: {exc.strerror or exc or type(exc).__name__}"
        ) from None


def _remove_stale_temps(connection: HostConnection, directory: str, name: str) -> None:
    """Temp files of ``name`` that an earlier, interrupted push left behind."""
    stale = re.compile(rf"\.{re.escape(name)}\.schulit-[0-9a-f]{{8}}")
    for entry in connection.sftp.listdir(directory):
        if stale.fullmatch(entry):
            with contextlib.suppress(FileNotFoundError):
                connection.sftp.remove(posixpath.join(directory, entry))


def _install(
    connection: HostConnection, ids: _Ids, item: RenderedFile, old: bytes | None, root: str = "/"
) -> None:
    """Temp file, mode and owner, validate, backup, atomic rename; SchulitError when validate fails.

    The validate command gets the temp file as ``%s`` and the target's path as ``%t``.
    """
    directory, name = posixpath.split(item.path)
    connection.ensure_directory(directory)
    _remove_stale_temps(connection, directory, name)
    temp = posixpath.join(directory, f".{name}.schulit-{secrets.token_hex(4)}")
    try:
        connection.write(temp, item.content, item.spec.mode)
        uid, gid = ids.ids(item.spec.owner, item.spec.group)
        connection.sftp.chown(temp, uid, gid)
        if item.validate:
            command = item.validate.replace("%s", shlex.quote(temp)).replace("%t", shlex.quote(item.path))
            result = connection.run(command)
            if result.status != 0:
                raise SchulitError(
                    f"validate failed ({item.validate}): exit {result.status}: {result.output.strip()[:500]}"
                )
        if item.spec.backup and old is not None:
            backup = item.spec.backup_path(item.path, root)
            connection.ensure_directory(posixpath.dirname(backup))
            connection.write(backup, old, item.spec.mode)
            connection.sftp.chown(backup, uid, gid)
        connection.sftp.posix_rename(temp, item.path)
        temp = ""
    finally:
        if temp:
            with contextlib.suppress(OSError):
                connection.sftp.remove(temp)


def push_host(
    rendered: HostFiles,
    inventory: Inventory,
    key: Any,
    *,
    check: bool,
    diff: bool,
    stop: threading.Event | None = None,
    secret: str | None = None,
) -> HostResult:
    """Bring one host in line with its rendered files; when ``stop`` is set, stop before the next file.

    ``secret``: the server's directory secret, put into the files marked secret (in place of the
    placeholder) right before they are compared and uploaded; diffs and errors show the placeholder.
    """
    server = rendered.server
    result = HostResult(server.name, server.school_id, f"{server.address}:{server.port}")
    items: list[RenderedFile] = []
    for item in rendered.files:
        if item.spec.secret and PLACEHOLDER.encode() in item.content:
            if secret is None and check:
                items.append(item)  # no identity yet (the real push creates it): shown as would-change
                continue
            if secret is None:
                result.files.append(
                    FileResult(item.path, "failed", error="no directory identity yet (schulit servers sync)")
                )
                result.status, result.error = "failed", f"{item.path}: no directory identity yet"
                continue
            item = dataclasses.replace(
                item, content=item.content.replace(PLACEHOLDER.encode(), secret.encode())
            )
        items.append(item)

    def hide(data: bytes | None) -> bytes | None:
        return data.replace(secret.encode(), PLACEHOLDER.encode()) if data is not None and secret else data

    try:
        connection = HostConnection(server, inventory.ssh, key)
    except Unreachable as exc:
        result.status, result.error = "unreachable", str(exc)
        return result
    except HostRefused as exc:
        result.status, result.error = "failed", str(exc)
        return result
    try:
        ids = _Ids(connection)
        changed: list[tuple[RenderedFile, bytes | None, str]] = []
        for item in items:
            old = connection.read(item.path)
            if old == item.content:
                result.files.append(FileResult(item.path, "ok"))
                continue
            text = unified_diff(server.name, item.path, hide(old), hide(item.content) or b"") if diff else ""
            if check:
                result.files.append(FileResult(item.path, "would-change", text))
            else:
                changed.append((item, old, text))
        pending_path = _pending_path(server)
        pending = [] if check else _read_pending(connection, pending_path)
        pending = [h for h in pending if h in rendered.handlers]
        needed = list(pending)
        for item, _old, _text in changed:
            needed.extend(h for h in item.spec.handlers if h not in needed)
        if needed != pending:
            _write_pending(connection, pending_path, needed)  # before the first file is replaced
        triggered = list(pending)
        for item, old, text in changed:
            if stop is not None and stop.is_set():
                raise Interrupted("interrupted before all files were installed; the next push completes it")
            try:
                _install(connection, ids, item, old, server.root)
            except SchulitError as exc:
                error = _redact(str(exc), secret)
                result.files.append(FileResult(item.path, "failed", text, error))
                result.status, result.error = "failed", f"{item.path}: {error}"
                continue
            except OSError as exc:
                if not connection.active():
                    raise
                error = f"cannot write: {exc.strerror or exc or type(exc).__name__}"
                if error.endswith(": Failure"):  # SFTP's catch-all status (ENOSPC, EROFS, EIO, ...)
                    error += " (the server gave no reason: full or read-only file system?)"
                result.files.append(FileResult(item.path, "failed", text, error))
                result.status, result.error = "failed", f"{item.path}: {error}"
                continue
            result.files.append(FileResult(item.path, "changed", text))
            triggered.extend(h for h in item.spec.handlers if h not in triggered)
        still_pending = []
        for handler in triggered:
            outcome = connection.run(rendered.handlers[handler])
            result.handlers.append(handler)
            if outcome.status != 0:
                still_pending.append(handler)
                result.status = "failed"
                result.error = (
                    f"handler {handler} failed: exit {outcome.status}: {outcome.output.strip()[:300]}"
                )
        if not check and (needed or pending):
            _write_pending(connection, pending_path, still_pending)
        _ensure_folders(connection, ids, rendered.folders, result, check=check)
        if result.status == "ok" and (
            result.handlers or any(f.status in ("changed", "would-change") for f in result.files)
        ):
            result.status = "changed"
    except Unreachable as exc:
        result.status, result.error = "unreachable", str(exc)
    except (SchulitError, Interrupted) as exc:
        result.status, result.error = "failed", str(exc)
    except (OSError, EOFError) as exc:
        result.status, result.error = "failed", f"connection failed midway: {exc or type(exc).__name__}"
    except Exception as exc:
        result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()
    position = {item.path: index for index, item in enumerate(rendered.files)}
    position.update({f"{folder.path}/": len(position) + i for i, folder in enumerate(rendered.folders)})
    result.files.sort(key=lambda f: position.get(f.path, 0))
    result.error = _redact(result.error, secret)
    return result


def _redact(text: str, secret: str | None) -> str:
    return text.replace(secret, PLACEHOLDER) if secret and text else text


def _ensure_folders(
    connection: HostConnection, ids: _Ids, folders: Sequence[Folder], result: HostResult, *, check: bool
) -> None:
    """Create missing folders, set owner, group and mode (setgid included); never remove or empty one.

    Group names are looked up on the host (``getent``: the school's groups come from the directory through
    sssd); a number is used as it is. Runs after the handlers, so a freshly configured sssd answers.
    """
    if not folders:
        return
    names = sorted({f.group for f in folders if not f.group.isdigit()} | {f.owner for f in folders})
    groups = ids.lookup("group", [n for n in names if any(f.group == n for f in folders)])
    owners = ids.lookup("passwd", sorted({f.owner for f in folders if not f.owner.isdigit()}))
    for folder in folders:
        shown = f"{folder.path}/"
        try:
            gid = int(folder.group) if folder.group.isdigit() else groups.get(folder.group)
            uid = int(folder.owner) if folder.owner.isdigit() else owners.get(folder.owner)
            if gid is None or uid is None:
                missing = folder.group if gid is None else folder.owner
                raise SchulitError(f"{missing!r} is not known on the host (getent; is sssd running?)")
            try:
                info = connection.sftp.stat(folder.path)
            except FileNotFoundError:
                info = None
            if info is not None and (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode or 0)) == (
                uid,
                gid,
                folder.mode,
            ):
                result.files.append(FileResult(shown, "ok"))
                continue
            if check:
                result.files.append(FileResult(shown, "would-change"))
                continue
            if info is None:
                connection.ensure_directory(posixpath.dirname(folder.path))
                connection.sftp.mkdir(folder.path, 0o700)
            connection.sftp.chown(folder.path, uid, gid)
            connection.sftp.chmod(folder.path, folder.mode)
            result.files.append(FileResult(shown, "changed"))
        except (SchulitError, OSError) as exc:
            if isinstance(exc, OSError) and not connection.active():
                raise
            result.files.append(FileResult(shown, "failed", error=str(exc)))
            result.status, result.error = "failed", f"{shown}: {exc}"


def push_configs(
    inventory: Inventory,
    *,
    limits: Sequence[str] = (),
    check: bool = False,
    diff: bool = False,
    forks: int | None = None,
    progress: Callable[[HostResult, int, int], None] | None = None,
    server_secrets: dict[str, str] | None = None,
) -> PushResult:
    """Render and push to every selected server, ``forks`` hosts at a time.

    Each selected server first gets its directory identity where it has none (or its secret no longer
    matches; not in check mode): ``server_secrets`` (server name → secret) then fill the files marked secret.
    """
    servers = select_servers(inventory, limits)
    key = load_private_key(check_private_key(inventory.ssh.key_file))
    store = secret_store(inventory)
    with connected(inventory.directory) as connection:
        if not check and server_secrets is None:
            changes = plan_identities(connection, inventory, servers, store, remove_unknown=False)
            if changes:
                with AuditLog(inventory.audit_log, "configs push") as audit:
                    apply_identities(connection, inventory, changes, store, audit)
    # the schools' state in bulk: a plain SYNC connection whose answers schulit decodes itself
    with connected(inventory.directory, strategy=ldap3.SYNC, bulk_read=True) as reader:
        rendered = render_hosts(inventory, servers, reader)
    if server_secrets is None:
        server_secrets = {s.name: v for s in servers if (v := store.read(s.name)) is not None}
    results: list[HostResult] = []
    jobs = []
    for item in rendered:
        if isinstance(item, tuple):
            server, error = item
            results.append(
                HostResult(
                    server.name, server.school_id, f"{server.address}:{server.port}", "failed", error=error
                )
            )
        else:
            jobs.append(item)
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, forks or inventory.ssh.forks))
    try:
        futures = [
            pool.submit(
                push_host,
                job,
                inventory,
                key,
                check=check,
                diff=diff,
                stop=stop,
                secret=server_secrets.get(job.server.name),
            )
            for job in jobs
        ]
        for done, future in enumerate(as_completed(futures), start=1):
            host = future.result()
            results.append(host)
            if progress is not None:
                progress(host, done, len(futures))
    except BaseException:
        # Ctrl-C / SIGTERM: start no further host, let each running one stop after its current file
        # (never half of one; its pending handlers are run by the next push)
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    order = {s.name: i for i, s in enumerate(servers)}
    results.sort(key=lambda h: order.get(h.name, 0))
    return PushResult(results, check, diff)


def format_recap(result: PushResult) -> str:
    """An Ansible-style recap: one line per host, then totals."""
    lines = ["", "RECAP" + (" (check mode: nothing was changed)" if result.check else "")]
    width = max((len(h.name) for h in result.hosts), default=10)
    for host in result.hosts:
        files = [f for f in host.files if not f.path.endswith("/")]
        counts = {s: sum(1 for f in files if f.status == s) for s in ("ok", "changed", "would-change")}
        changed = counts["changed"] + counts["would-change"]
        folders = sum(f.path.endswith("/") and f.status in ("changed", "would-change") for f in host.files)
        line = (
            f"{host.name:<{width}} : {host.status:<11} files ok={counts['ok']} changed={changed}"
            + (f" folders={folders}" if folders else "")
            + (f" handlers={','.join(host.handlers)}" if host.handlers else "")
        )
        if host.error:
            line += f"  ({host.error})"
        lines.append(line)
    totals = result.totals()
    lines.append(
        f"hosts: {len(result.hosts)} · ok {totals['ok']} · changed {totals['changed']} · failed "
        f"{totals['failed']} · unreachable {totals['unreachable']}"
    )
    return "\n".join(lines)


def tty_progress(host: HostResult, done: int, total: int) -> None:
    """Progress line on stderr, only when it is a terminal."""
    if sys.stderr.isatty():
        print(
            f"\r[{done}/{total}] {host.name}: {host.status}\033[K",
            end="" if done < total else "\n",
            file=sys.stderr,
            flush=True,
        )
