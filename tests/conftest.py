"""Suite-wide fixtures: real slapd and sshd servers (tests/plugins/)."""

import os

pytest_plugins = ["tests.plugins.slapd"] + (
    ["tests.plugins.sshd"]
    if os.path.exists(os.path.join(os.path.dirname(__file__), "plugins", "sshd.py"))
    else []
)
