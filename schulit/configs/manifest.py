"""Template sets: ``templates/<role>/files.toml`` lists the files of a role, their targets and handlers."""

from __future__ import annotations

import posixpath
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from schulit.errors import SchulitError

MODE_PATTERN = re.compile(r"^0?[0-7]{3,4}$")


@dataclass(frozen=True)
class FileSpec:
    """One file of a role: which template, where it goes, how it is checked and who reacts to a change."""

    name: str
    template: str
    dest: str
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"
    validate: str = ""
    handlers: tuple[str, ...] = ()
    backup: bool = False
    backup_dir: str = ""  # absolute folder for the backup ("" = next to the file)
    when: str = ""  # a template expression; the file is pushed only where it is true
    secret: bool = False  # holds the server's directory secret (placeholder in render output): mode 0600

    def backup_path(self, path: str, root: str = "/") -> str:
        """Where the previous version of ``path`` (below the server's ``root``) is kept."""
        if not self.backup_dir:
            return f"{path}.schulit-bak"
        return posixpath.normpath(
            posixpath.join(root, self.backup_dir.lstrip("/"), self.dest.lstrip("/") + ".schulit-bak")
        )


@dataclass(frozen=True)
class RoleManifest:
    """All files and handler commands of one role."""

    role: str
    folder: Path
    files: tuple[FileSpec, ...]
    handlers: dict[str, str] = field(default_factory=dict)
    folders: tuple[str, ...] = ()  # templates rendering "path mode owner group" lines


FILE_KEYS = {
    "name",
    "template",
    "dest",
    "mode",
    "owner",
    "group",
    "validate",
    "handlers",
    "backup",
    "when",
    "secret",
}


def load_manifest(templates_dir: Path, role: str) -> RoleManifest:
    """Read and check ``templates_dir/role/files.toml``."""
    folder = templates_dir / role
    path = folder / "files.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchulitError(f"{path}: no template set for role {role!r}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SchulitError(f"{path}: invalid TOML: {exc}") from None
    handlers = data.get("handlers", {})
    files = []
    for index, item in enumerate(data.get("files", [])):
        where = f"{path}: files[{index}]"
        unknown = set(item) - FILE_KEYS
        if unknown:
            raise SchulitError(f"{where}.{sorted(unknown)[0]}: unknown key")
        for key in ("name", "template", "dest"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise SchulitError(f"{where}.{key}: missing (expected a string)")
        if not item["dest"].startswith(("/", "{{")):
            raise SchulitError(f"{where}.dest: expected an absolute path, got {item['dest']!r}")
        if not (folder / item["template"]).is_file():
            raise SchulitError(f"{where}.template: {folder / item['template']} not found")
        mode = str(item.get("mode", "0644"))
        if not MODE_PATTERN.match(mode):
            raise SchulitError(f'{where}.mode: expected an octal mode like "0644", got {mode!r}')
        backup = item.get("backup", False)
        if not isinstance(backup, bool) and not (isinstance(backup, str) and backup.startswith("/")):
            raise SchulitError(f"{where}.backup: expected true, false or an absolute folder, got {backup!r}")
        secret = item.get("secret", False)
        if not isinstance(secret, bool):
            raise SchulitError(f"{where}.secret: expected true or false, got {secret!r}")
        if secret and int(mode, 8) & 0o077:
            raise SchulitError(
                f"{where}.mode: a secret file must not be readable by group or others ({mode})"
            )
        when = item.get("when", "")
        if not isinstance(when, str):
            raise SchulitError(f"{where}.when: expected a template expression string, got {when!r}")
        for handler in item.get("handlers", []):
            if handler not in handlers:
                raise SchulitError(f"{where}.handlers: {handler!r} is not defined in [handlers]")
        files.append(
            FileSpec(
                name=item["name"],
                template=item["template"],
                dest=item["dest"],
                mode=int(mode, 8),
                owner=item.get("owner", "root"),
                group=item.get("group", "root"),
                validate=item.get("validate", ""),
                handlers=tuple(item.get("handlers", [])),
                backup=bool(backup),
                backup_dir=backup if isinstance(backup, str) else "",
                when=when,
                secret=secret,
            )
        )
    folders = []
    for index, item in enumerate(data.get("folders", [])):
        where = f"{path}: folders[{index}]"
        if set(item) != {"template"} or not isinstance(item["template"], str):
            raise SchulitError(f"{where}: expected exactly one key, template")
        if not (folder / item["template"]).is_file():
            raise SchulitError(f"{where}.template: {folder / item['template']} not found")
        folders.append(item["template"])
    return RoleManifest(
        role=role, folder=folder, files=tuple(files), handlers=dict(handlers), folders=tuple(folders)
    )
