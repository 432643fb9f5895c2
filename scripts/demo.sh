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

step "what a school server got (fs1.gs-hanstedt: fileserver + dhcp), checked by the real programs"
host="$state/hosts/fs1.gs-hanstedt"
echo "identity: $(grep '^ldap_default_bind_dn' "$host/etc/sssd/sssd.conf" | cut -d' ' -f3-)"
echo "files (the secret is only in the two 0600 files; it is never printed):"
for f in etc/sssd/sssd.conf etc/samba/schulit-ldap.secret etc/samba/smb.conf etc/ldap/ldap.conf etc/motd \
        etc/dnsmasq.d/schule.conf etc/schulit/dnsmasq/dhcp-hosts etc/schulit/dnsmasq/hosts; do
    stat -c '  %A %U:%G  /%n' "$host/$f" | sed "s#$host/##"
done
echo "share folders (group = the class's gidNumber, setgid):"
find "$host/srv/samba" -maxdepth 3 -type d | sort | sed -n "1,8p" | while read -r d; do stat -c '  %A %U:%g  %n' "$d" | sed "s#$host##"; done
grep -E '^(ldap_uri|ldap_user_search_base|access_provider|ldap_account_expire_policy|ldap_tls_reqcert)' \
    "$host/etc/sssd/sssd.conf" | sed 's/^/  sssd.conf: /'
echo "  sssctl config-check: $(sssctl config-check -c "$host/etc/sssd/sssd.conf" | sed -n 1p)"
testparm -s --suppress-prompt "$host/etc/samba/smb.conf" 2>/dev/null | grep -E '^\[|passdb backend|ldap admin dn' | sed -n "1,8p" | sed "s/^/  testparm: /"
.venv/bin/python -m schulit.devservers dnsmasq --state "$state" --root "$host" \
    drucker-lehrerzimmer.gs-hanstedt.schule.lk-heide.example tafel-1.gs-hanstedt.schule.lk-heide.example | sed 's/^/  /'

step "schulit servers list; schulit directory acl (head: the rules the demo slapd runs with)"
"${schulit[@]}" servers list | sed -n "1,4p"
"${schulit[@]}" directory acl | sed -n '1,16p'

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
