#!/usr/bin/env bash
# Production install of schulit (README: "Production install"). Idempotent: run it again to upgrade; it never
# overwrites the inventory, the secrets or the timer's schedule you changed.
#
#   sudo contrib/install.sh                 # install on this machine
#   contrib/install.sh --root /tmp/trial    # the same steps into an empty folder (tests, a dry look)
#
# Steps: 1. system user and group "schulit"  2. folders and modes  3. the venv in /opt/schulit/venv with
# schulit from this source tree  4. /etc/schulit: inventory skeleton, templates, bind password file, SSH key
# 5. systemd service and timer (enabled only on a real install)
set -euo pipefail

ROOT=/
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --root) ROOT="$2"; shift 2 ;;
        --python) PYTHON="$2"; shift 2 ;;
        *) echo "usage: $0 [--root DIR] [--python PYTHON]" >&2; exit 1 ;;
    esac
done
ROOT="$(cd "$ROOT" && pwd)"
R="${ROOT%/}"  # prefix for every path ("" on a real install)
say() { echo "install: $*"; }

# 1. the system user: no login shell, home /var/lib/schulit (its state)
if [[ ! -e "$R/etc/passwd" ]]; then
    mkdir -p "$R/etc"
    for file in passwd group shadow gshadow; do grep -E '^root:' "/etc/$file" > "$R/etc/$file" || true; done
    chmod 0640 "$R/etc/shadow" "$R/etc/gshadow"
fi
if ! grep -q '^schulit:' "$R/etc/passwd"; then
    useradd ${R:+--root "$ROOT"} --system --user-group --home-dir /var/lib/schulit --no-create-home \
        --shell /usr/sbin/nologin --comment "schulit school IT" schulit
    say "created system user schulit"
fi
USER_ID="$(awk -F: '$1 == "schulit" {print $3}' "$R/etc/passwd")"
GROUP_ID="$(awk -F: '$1 == "schulit" {print $4}' "$R/etc/passwd")"

folder() {  # folder PATH MODE OWNER GROUP
    mkdir -p "$R$1"
    chmod "$2" "$R$1"
    chown "$3:$4" "$R$1"
}

# 2. folders: code (root, read-only for the service), settings (root-owned, readable by the group), state
folder /opt/schulit 0755 0 0
folder /etc/schulit 0750 0 "$GROUP_ID"
folder /etc/schulit/inventory 0750 0 "$GROUP_ID"
folder /etc/schulit/inventory/schools 0750 0 "$GROUP_ID"
folder /etc/schulit/inventory/rosters 0750 0 "$GROUP_ID"
folder /etc/schulit/ssh 0700 "$USER_ID" "$GROUP_ID"
folder /var/lib/schulit 0700 "$USER_ID" "$GROUP_ID"
folder /var/lib/schulit/passwords 0700 "$USER_ID" "$GROUP_ID"
folder /var/log/schulit 0750 "$USER_ID" "$GROUP_ID"

# 3. the venv, owned by root: the service can run the code but not change it
if [[ ! -x "$R/opt/schulit/venv/bin/python" ]]; then
    "$PYTHON" -m venv "$R/opt/schulit/venv"
fi
"$R/opt/schulit/venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$SOURCE"
say "installed $("$R/opt/schulit/venv/bin/schulit" --version) into /opt/schulit/venv"

# 4. settings: a skeleton inventory (never overwritten), the template sets (replaced on upgrade), secrets
install_new() {  # install_new SOURCE TARGET MODE OWNER GROUP: only if TARGET does not exist yet
    if [[ ! -e "$R$2" ]]; then
        install -m "$3" -o "$4" -g "$5" "$1" "$R$2"
        say "created $2"
    fi
}
install_new "$SOURCE/contrib/etc/county.toml" /etc/schulit/inventory/county.toml 0640 0 "$GROUP_ID"
rm -rf "$R/etc/schulit/templates.new"
cp -r "$SOURCE/templates" "$R/etc/schulit/templates.new"
chown -R 0:"$GROUP_ID" "$R/etc/schulit/templates.new"
chmod -R u=rwX,g=rX,o= "$R/etc/schulit/templates.new"
rm -rf "$R/etc/schulit/templates"
mv "$R/etc/schulit/templates.new" "$R/etc/schulit/templates"
if [[ ! -e "$R/etc/schulit/ldap-bind.password" ]]; then
    install -m 0600 -o "$USER_ID" -g "$GROUP_ID" /dev/null "$R/etc/schulit/ldap-bind.password"
    say "created /etc/schulit/ldap-bind.password (empty: put the bind password in it)"
fi
if [[ ! -e "$R/etc/schulit/ssh/id_ed25519" ]]; then
    ssh-keygen -q -t ed25519 -N "" -C "schulit@$(hostname)" -f "$R/etc/schulit/ssh/id_ed25519"
    chown "$USER_ID:$GROUP_ID" "$R/etc/schulit/ssh/id_ed25519" "$R/etc/schulit/ssh/id_ed25519.pub"
    chmod 0600 "$R/etc/schulit/ssh/id_ed25519"
    say "created the push key /etc/schulit/ssh/id_ed25519 (public half: id_ed25519.pub)"
fi
if [[ ! -e "$R/etc/schulit/ssh/known_hosts" ]]; then
    install -m 0644 -o "$USER_ID" -g "$GROUP_ID" /dev/null "$R/etc/schulit/ssh/known_hosts"
fi

# 5. systemd units; the timer's schedule is kept if you changed it
folder /etc/systemd/system 0755 0 0
install -m 0644 -o 0 -g 0 "$SOURCE/contrib/systemd/schulit-nightly.service" \
    "$R/etc/systemd/system/schulit-nightly.service"
install_new "$SOURCE/contrib/systemd/schulit-nightly.timer" /etc/systemd/system/schulit-nightly.timer 0644 0 0
if [[ -z "$R" ]] && [[ -d /run/systemd/system ]]; then
    systemctl daemon-reload
    say "units installed; after filling in /etc/schulit: systemctl enable --now schulit-nightly.timer"
else
    say "units installed into $ROOT (not enabled: not a real install or no systemd)"
fi
say "next: edit /etc/schulit/inventory/county.toml, add schools/<id>.toml, then as user schulit:"
say "  sudo -u schulit SCHULIT_INVENTORY=/etc/schulit/inventory /opt/schulit/venv/bin/schulit inventory check"
