#!/usr/bin/env bash
# Install the Debian packages schulit's tests and demo run for real: OpenLDAP (slapd, ldap-utils),
# OpenSSH server, poppler-utils (PDF checks), chromium (the web page's browser tests, driven by Playwright),
# a Samba AD DC with its clients (samba-ad-dc and the provisioning files, krb5-user, smbclient, winbind,
# libnss-winbind for the test member server, which uses it only inside its own mount namespace). The
# machine's NSS and PAM stay as they are: libnss-winbind adds itself to /etc/nsswitch.conf, so both are
# restored after the install. Non-interactive; no system daemon is left running: the suite and the demo
# start their own throwaway instances.
set -euo pipefail

packages=(slapd ldap-utils openssh-server openssh-client openssl poppler-utils tmux fonts-dejavu-core chromium
          samba samba-ad-dc samba-ad-provision samba-dsdb-modules samba-vfs-modules winbind krb5-user smbclient
          libnss-winbind)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: need root to install: ${missing[*]}" >&2
    exit 1
fi

# Keep package scripts from starting system daemons (slapd, sshd) while installing.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    own_policy=1
fi
cleanup() { if [ "$own_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
echo "install-system-deps: installing ${missing[*]}" >&2
saved=$(mktemp -d)
cp -a /etc/nsswitch.conf "$saved/" 2>/dev/null || true
tar -C /etc -cf "$saved/pam.d.tar" pam.d 2>/dev/null || true
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The tests use throwaway krb5/smb configs only: put back NSS and PAM if a package changed them.
if [ -f "$saved/nsswitch.conf" ] && ! cmp -s "$saved/nsswitch.conf" /etc/nsswitch.conf; then
    cp -a "$saved/nsswitch.conf" /etc/nsswitch.conf
fi
if [ -f "$saved/pam.d.tar" ]; then
    mkdir "$saved/pam" && tar -C "$saved/pam" -xf "$saved/pam.d.tar"
    if ! diff -r -q "$saved/pam/pam.d" /etc/pam.d >/dev/null; then
        rm -rf /etc/pam.d && cp -a "$saved/pam/pam.d" /etc/pam.d
    fi
fi
rm -rf "$saved"
# In case a package started its daemon anyway (no policy support), stop it: we never use the system ones.
for service in slapd ssh smbd nmbd winbind samba-ad-dc; do
    if command -v service >/dev/null 2>&1; then service "$service" stop >/dev/null 2>&1 || true; fi
done
