#!/usr/bin/env bash
# The README's test command: installs everything (Debian packages, Python venv) and runs the whole suite
# (lint + unit + integration tests against real slapd/sshd started by the suite).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
bash scripts/setup-python.sh
.venv/bin/ruff check schulit tests bench inventories
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
