#!/usr/bin/env bash
# The README's first command: install what is missing (Debian packages), build, and run the
# main job on the bundled defaults.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/deps.sh
make run "$@"
