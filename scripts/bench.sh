#!/usr/bin/env bash
# All benchmarks, each printing its ratio against a reference measured in the same run (bench/*.py).
# Installs what they need first (Debian packages, venv with the bench extra: ansible-core).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
bash scripts/setup-python.sh
.venv/bin/pip install -q -e '.[test,bench]'
for bench in bench_import bench_nochange bench_push bench_web; do
    echo "== bench/$bench.py"
    .venv/bin/python "bench/$bench.py"
    echo
done
