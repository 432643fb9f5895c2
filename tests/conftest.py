"""Suite-wide fixtures: real slapd, sshd and Samba AD servers (tests/plugins/)."""

pytest_plugins = [
    "tests.plugins.slapd",
    "tests.plugins.sshd",
    "tests.plugins.dnsmasq",
    "tests.plugins.schoolservers",
    "tests.plugins.samba_ad",
]
