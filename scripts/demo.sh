#!/usr/bin/env bash
# The README's demo command: the main job on the demo county, end to end.
#   bash scripts/demo.sh          install what is needed, start local slapd + sshd "school servers",
#                                 then inventory check, directory init, accounts sync, letters, configs push
#   bash scripts/demo.sh stop     stop the local servers (state stays in /var/tmp/schulit-demo)
#   bash scripts/demo.sh clean    stop them and remove their state
set -euo pipefail
cd "$(dirname "$0")/.."
inventory=inventories/demo
state=/var/tmp/schulit-demo
action="${1:-run}"

if [ "$action" = stop ] || [ "$action" = clean ]; then
    if [ -x .venv/bin/python ]; then
        .venv/bin/python -m schulit.devservers down --inventory "$inventory" --state "$state"
    fi
    if [ "$action" = clean ]; then rm -rf "$state"; echo "removed $state"; fi
    exit 0
fi

bash scripts/install-system-deps.sh
bash scripts/setup-python.sh
schulit=(.venv/bin/schulit --inventory "$inventory")

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "local servers (slapd + one sshd per demo school server, state in $state)"
.venv/bin/python -m schulit.devservers up --inventory "$inventory" --state "$state"

step "schulit inventory check"
"${schulit[@]}" inventory check

step "schulit directory init"
"${schulit[@]}" directory init

step "schulit accounts plan"
set +e
"${schulit[@]}" accounts plan
rc=$?
set -e
case $rc in
    0) echo "(exit 0: nothing to do)";;
    2) echo "(exit 2: changes pending)";;
    *) exit "$rc";;
esac

step "schulit accounts sync --yes"
"${schulit[@]}" accounts sync --yes

step "schulit passwords letters (new passwords only; the delivery files are shredded after printing)"
mkdir -p "$state/letters"
letters="$state/letters/letters-$(date +%Y%m%d-%H%M%S).pdf"
"${schulit[@]}" passwords letters --output "$letters" --shred

step "schulit configs push"
"${schulit[@]}" configs push

step "schulit configs push --check (a second push has nothing to change)"
"${schulit[@]}" configs push --check

step "schulit --verbose nightly (what cron runs every night; silent without --verbose when all is well)"
"${schulit[@]}" --verbose nightly

step "directory layout (ldapsearch, first levels)"
ldapsearch -LLL -x -o ldif-wrap=no -H "ldap://127.0.0.1:38389" -D "cn=admin,dc=lk-heide,dc=schule,dc=example" \
    -y "$state/ldap-bind.password" -b "dc=lk-heide,dc=schule,dc=example" -s one dn | sed -n 's/^dn: /  /p'

cat <<EOF2

Done. The local servers keep running for you to explore:
  .venv/bin/schulit --inventory $inventory accounts list --school gs-bienenbuettel
  files pushed to the demo school servers: $state/hosts/<server>/etc/...
  password letters: $state/letters/
Stop them with:  bash scripts/demo.sh stop
EOF2
