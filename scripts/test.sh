#!/usr/bin/env bash
# The README's second command: install what is missing (Debian packages), build, and run
# the whole test suite; ctest's summary line is the last thing printed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/deps.sh
make test "$@"
