"""Suite-wide fixtures: real slapd and sshd servers (tests/plugins/)."""

pytest_plugins = [
    "tests.plugins.slapd",
    "tests.plugins.sshd",
    "tests.plugins.dnsmasq",
    "tests.plugins.schoolservers",
]
