"""Serve the web page with waitress (a pure-Python production WSGI server), after checking the settings."""

from __future__ import annotations

import ipaddress

import waitress

from schulit.directory.connection import connect, disconnect
from schulit.errors import SchulitError
from schulit.inventory import Inventory, WebSettings
from schulit.web.app import WebConfig, create_app
from schulit.web.directory import WebDirectory


def parse_listen(listen: str, web: WebSettings) -> tuple[str, int]:
    """``ADDRESS:PORT`` → (address, port); plain HTTP beyond loopback only behind a configured TLS proxy."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    try:
        address = ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise SchulitError(f"--listen {listen!r}: expected IP-ADDRESS:PORT, e.g. 127.0.0.1:8080") from None
    if not 0 < number < 65536:
        raise SchulitError(f"--listen {listen!r}: port out of range")
    if not address.is_loopback and web.trusted_proxy is None:
        raise SchulitError(
            f"--listen {listen}: the page speaks plain HTTP; passwords must not cross a network that way. "
            "Listen on 127.0.0.1 behind a TLS reverse proxy, or set [web] trusted_proxy to the proxy's "
            "address if it runs on another host"
        )
    return str(address), number


def serve(inventory: Inventory, web: WebSettings, listen: str, threads: int = 4) -> None:
    """Check that the web identity can bind, then serve until interrupted."""
    host, port = parse_listen(listen, web)
    web_directory = WebDirectory(inventory, web)
    disconnect(connect(web_directory.service_settings))  # fail now, with a clear message, not per request
    app = create_app(web_directory, WebConfig(web=web, county_name=inventory.county_name))
    proxy = {}
    if web.trusted_proxy is not None:
        proxy = {
            "trusted_proxy": web.trusted_proxy,
            "trusted_proxy_count": 1,
            "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
            "clear_untrusted_proxy_headers": True,
        }
    shown = f"[{host}]" if ":" in host else host
    print(f"schulit web: serving http://{shown}:{port}/ (Ctrl-C stops)", flush=True)
    waitress.serve(app, host=host, port=port, threads=threads, ident="schulit", **proxy)
