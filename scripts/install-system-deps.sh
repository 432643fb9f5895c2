#!/usr/bin/env bash
# Install the Debian packages schulit's tests and demo run for real: OpenLDAP (slapd, ldap-utils),
# OpenSSH server, poppler-utils (PDF checks), chromium (the web page's browser tests, driven by Playwright).
# Non-interactive; no system daemon is left running: the suite and the demo start their own throwaway instances.
set -euo pipefail

packages=(slapd ldap-utils openssh-server openssh-client openssl poppler-utils tmux fonts-dejavu-core chromium)
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
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# In case a package started its daemon anyway (no policy support), stop it: we never use the system ones.
for service in slapd ssh; do
    if command -v service >/dev/null 2>&1; then service "$service" stop >/dev/null 2>&1 || true; fi
done
