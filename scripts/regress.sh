#!/usr/bin/env bash
# CI regression of the speedup and quality curves: a quick sweep (scenarios/regress.yaml:
# Llama 2 7B shape on 8 Pi 4B at 0/2/5% loss, distributed-llama and HALO; and
# scenarios/regress-quality.yaml: perplexity of the bundled model on 5 stories at 5% loss)
# into a throwaway database, compared by `halo regress` with regress/baseline.csv, whose
# rows state their tolerances. Exits non-zero with a table of what moved.
#
# usage: scripts/regress.sh [--write] [SCENARIO_DIR]
#   --write        regenerate regress/baseline.csv from this build (commit it with the
#                  reason in the message)
#   SCENARIO_DIR   take regress.yaml / regress-quality.yaml from there (tests use it to show
#                  that a deliberately slowed setting fails)
# Environment: HALO (the binary, default build/dev/app/halo), REGRESS_BASELINE (the CSV).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
halo=${HALO:-$here/build/dev/app/halo}
baseline=${REGRESS_BASELINE:-$here/regress/baseline.csv}
write=()
if [ "${1-}" = --write ]; then
    write=(--write)
    shift
fi
dir=${1:-$here/scenarios}
[ -x "$halo" ] || { echo "regress: no halo binary at $halo (run 'make build')" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/halo-regress-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export HALO_SCENARIO_DIR=$here/scenarios
"$halo" sweep --quiet --jobs 2 --db "$tmp/regress.db" "$dir/regress.yaml" >/dev/null
"$halo" sweep --quiet --jobs 2 --max-stories 5 --db "$tmp/regress.db" \
    "$dir/regress-quality.yaml" >/dev/null
"$halo" regress --db "$tmp/regress.db" --baseline "$baseline" "${write[@]}"
