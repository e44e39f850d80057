#!/usr/bin/env bash
# Delay-only cross-validation through the whole stack (label ns3): every point of
# scenarios/ns3-cross.yaml (stories260K, 4 x Pi 4B, no loss; strict/relaxed x stream/datagram,
# jitter 0 or 20 us) runs on the in-tree engine and on ns-3 (halo sim --engine); the mean
# per-token time must agree within 1%, and without jitter every token's time too.
# usage: test_ns3_cross.sh HALO SOURCE_DIR
set -euo pipefail
halo=$1
src=$2
sc=$src/scenarios/ns3-cross.yaml
unset NS_LOG NS_GLOBAL_VALUE
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
np=$("$halo" sim --points "$sc")
fail=0
for ((p = 0; p < np; p++)); do
    for e in sim ns3; do
        "$halo" sim --json --engine "$e" --point "$p" --run 0 "$sc" >"$tmp/$e.json"
        sed -n 's/.*"token_ms": \[\([^]]*\)\].*/\1/p' "$tmp/$e.json" | tr ',' '\n' >"$tmp/$e.tok"
    done
    grep -q '"engine": "ns3", "engine_settings": {' "$tmp/ns3.json" || {
        echo "point $p: ns3 JSON lacks the engine settings" >&2
        fail=1
    }
    label=$(sed -n 's/.*"label": "\([^"]*\)".*/\1/p' "$tmp/sim.json")
    paste "$tmp/sim.tok" "$tmp/ns3.tok" | awk -v label="$label" '
        { a += $1; b += $2; d = ($2 - $1) / $1; if (d < 0) d = -d; if (d > m) m = d; n++ }
        END {
            mean = (b - a) / a; if (mean < 0) mean = -mean
            printf "# %s: sim %.4f ms/token, ns3 %.4f, mean diff %.3f%%, max %.3f%%\n",
                label, a / n, b / n, 100 * mean, 100 * m
            if (n < 1 || mean > 0.01 || (label ~ /jitter_us=0( |$)/ && m > 0.01)) exit 1
        }' || fail=1
done
exit $fail
