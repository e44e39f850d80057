#!/usr/bin/env bash
# simsnap.sh [BIN] OUTDIR: `halo sim --json` of every point of every bundled scenario, one
# file per point, with the wall-clock field blanked, so two builds can be compared with
# `diff -r`: a refactoring must leave every simulated number byte-identical
# (docs/architecture.md, rule 6). BIN defaults to build/dev/app/halo. About 20 s.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ $# -eq 2 ]; then
    bin=$(realpath "$1")
    out=$2
elif [ $# -eq 1 ]; then
    bin=$(realpath build/dev/app/halo)
    out=$1
else
    echo "usage: $0 [BIN] OUTDIR" >&2
    exit 2
fi
[ -x "$bin" ] || {
    echo "simsnap: $bin is not an executable (make build first)" >&2
    exit 1
}
mkdir -p "$out"
points=()
for f in scenarios/*.yaml scenarios/bench/*.yaml scenarios/calibration/*.yaml; do
    n=$("$bin" sim --points "$f")
    for ((i = 0; i < n; i++)); do
        points+=("$f $i")
    done
done
export bin out
printf '%s\n' "${points[@]}" | xargs -P "$(nproc)" -L 1 bash -c '
    f=$0 i=$1 o="$out/$(echo "$f" | tr / _)-$i.json"
    { "$bin" sim --json "$f" --point "$i" 2>&1 || echo "exit $?"; } |
        sed -E "s/\"wall_s\": [0-9.e+-]+/\"wall_s\": X/g" >"$o"'
echo "simsnap: ${#points[@]} points in $out"
