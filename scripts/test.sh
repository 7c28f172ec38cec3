#!/usr/bin/env bash
# The README's test command: set everything up, then run the whole test suite.
# Extra arguments go to pytest (e.g. scripts/test.sh -k counts).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
echo "[test] running the test suite"
exec "$ROOT/.venv/bin/python" -m pytest tests "$@"
