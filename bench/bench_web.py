"""Class reset on the teachers' web page: how long a teacher waits for the PDF of a class of 30.

    python bench/bench_web.py [--pupils 30] [--runs 5]

A durable slapd with the web identity's ACLs, one class of N pupils and its teacher (synced by schulit),
``schulit web`` on a loopback port. Measured: the whole-class reset as a logged-in teacher sends it (one
POST: scope check from the directory, N new passwords hashed, N modifies, the PDF built and sent back).
The reference from the same run: a plain ldap3 loop doing the same N password modifies ({CRYPT} SHA-512
hash + modify, bound as the web identity). Target: the reset answers within 2 s.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ldap3

from schulit.passwords import hash_password
from tests.helpers.web import WEB_DN, WebCounty, web_slapd


def reference_loop(county: WebCounty, dns: list[str]) -> float:
    """Seconds for N hash+modify with a plain ldap3 connection (bound as the web identity)."""
    connection = ldap3.Connection(
        ldap3.Server(county.slapd.url), WEB_DN, county.web_password_file.read_text(), auto_bind=True
    )
    start = time.perf_counter()
    for dn in dns:
        value = hash_password("Referenz-" + dn[:8], "crypt-sha512")
        assert connection.modify(dn, {"userPassword": [(ldap3.MODIFY_REPLACE, [value])]}), connection.result
    elapsed = time.perf_counter() - start
    connection.unbind()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pupils", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as folder:
        root = Path(folder)
        slapd = web_slapd(root / "slapd", durable=True)
        try:
            pupils = [
                (str(1000 + i), f"Nachname{i:02d}", f"Kind{chr(97 + i % 26)}", "5a")
                for i in range(args.pupils)
            ]
            county = WebCounty(
                root / "county", slapd, {"gs-a": pupils}, {"gs-a": [("P1", "Lüders", "Karl", "5a")]}
            )
            county.sync()
            county.create_web_identity()
            teacher_password = county.passwords()["karl.lueders"]
            with county.admin() as admin:
                admin.search(f"ou=pupils,ou=gs-a,ou=schools,{slapd.base_dn}", "(uid=*)", attributes=["uid"])
                dns = [entry.entry_dn for entry in admin.entries]
            assert len(dns) == args.pupils
            server = county.start_web()
            try:
                jar = http.cookiejar.CookieJar()
                opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
                page = opener.open(server.url + "/").read().decode()
                token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
                form = {"username": "karl.lueders", "password": teacher_password, "csrf_token": token}
                page = opener.open(server.url + "/", urllib.parse.urlencode(form).encode()).read().decode()
                token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
                reset = urllib.parse.urlencode(
                    {"csrf_token": token, "schule": "gs-a", "klasse": "5a", "umfang": "klasse"}
                ).encode()
                web_times, reference_times = [], []
                for _ in range(args.runs):
                    start = time.perf_counter()
                    with opener.open(server.url + "/zuruecksetzen", reset) as response:
                        pdf = response.read()
                        assert response.headers["Content-Type"] == "application/pdf"
                    web_times.append(time.perf_counter() - start)
                    assert pdf.startswith(b"%PDF")
                    reference_times.append(reference_loop(county, dns))
            finally:
                server.stop()
        finally:
            slapd.stop()
    web, reference = statistics.median(web_times), statistics.median(reference_times)
    print(
        f"class reset of {args.pupils} pupils on the web page (median of {args.runs}): {web:.3f} s "
        f"(best {min(web_times):.3f} s, PDF {len(pdf) // 1024} KiB)"
    )
    print(
        f"reference, plain ldap3 loop of the same {args.pupils} hash+modify: {reference:.3f} s "
        f"(best {min(reference_times):.3f} s)"
    )
    print(
        f"ratio web / reference: {web / reference:.2f}x; target: answer within 2 s: "
        f"{'met' if web < 2 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
