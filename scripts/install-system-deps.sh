#!/usr/bin/env bash
# Install the Debian packages schulit's tests and demo run for real: OpenLDAP (slapd, ldap-utils),
# OpenSSH server, poppler-utils (PDF checks), chromium (the web page's browser tests, driven by Playwright),
# the school-server programs whose configs schulit pushes (sssd with its NSS/PAM modules, Samba, dnsmasq)
# and their clients (pamtester, smbclient). Non-interactive; no system daemon is left running: the suite and
# the demo start their own throwaway instances. The machine's own NSS and PAM stay as they were:
# libnss-sss/libpam-sss edit /etc/nsswitch.conf and run pam-auth-update, so both are saved first and
# restored afterwards (the tests use sss only inside private mount namespaces). A Samba AD DC with its
# clients (samba-ad-dc and the provisioning files, krb5-user, winbind, libnss-winbind for the test member
# server, which uses it only inside its own mount namespace; libnss-winbind edits nsswitch.conf too).
set -euo pipefail

packages=(slapd ldap-utils openssh-server openssh-client openssl poppler-utils tmux fonts-dejavu-core chromium
    sssd-ldap sssd-tools libnss-sss libpam-sss pamtester samba smbclient dnsmasq-base util-linux
    samba-ad-dc samba-ad-provision samba-dsdb-modules samba-vfs-modules winbind libnss-winbind krb5-user)
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
# Save NSS and PAM: restored on exit whatever the package scripts did to them.
saved=$(mktemp -d)
cp -a /etc/nsswitch.conf "$saved/nsswitch.conf"
tar -C /etc -czf "$saved/pam.d.tgz" pam.d
cleanup() {
    cp -a "$saved/nsswitch.conf" /etc/nsswitch.conf
    rm -rf /etc/pam.d && tar -C /etc -xzf "$saved/pam.d.tgz"
    rm -rf "$saved"
    if [ "$own_policy" -eq 1 ]; then rm -f "$policy"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
echo "install-system-deps: installing ${missing[*]}" >&2
apt-get update -qq
apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >/dev/null
# In case a package started its daemon anyway (no policy support), stop it: we never use the system ones.
for service in slapd ssh sssd smbd nmbd winbind samba-ad-dc; do
    if command -v service >/dev/null 2>&1; then service "$service" stop >/dev/null 2>&1 || true; fi
done
