#!/usr/bin/env bash
# The dependency rules of docs/architecture.md, checked on the source tree:
#   core includes only core; sim includes core and sim; net includes core and net;
#   results includes core, sim and results; nothing includes app/ but app;
#   app/ includes no SQLite, ns-3, GLPK or GSL header (those live behind libraries);
#   app/*.c stays under 4,000 lines (a thin command layer).
# Prints every violation with file:line and exits 1 if there is one. Run by `make lint`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fail=0
violation() {
    echo "check-layers: $*" >&2
    fail=1
}

# allowed LAYER: the folders a layer's files may include from
allowed() {
    case $1 in
    core) echo "core" ;;
    sim) echo "core sim" ;;
    net) echo "core net" ;;
    results) echo "core sim results" ;;
    app) echo "core sim net results app" ;;
    tools) echo "core sim net results tools" ;;
    esac
}

for layer in core sim net results app tools; do
    [ -d "$layer" ] || continue
    ok=" $(allowed "$layer") "
    while IFS=: read -r file line inc; do
        dir=${inc%%/*}
        case " core sim net results app tools " in
        *" $dir "*) ;;
        *) continue ;; # a system header or a generated one
        esac
        [[ $ok == *" $dir "* ]] || violation "$file:$line: $layer includes $inc"
    done < <(grep -rnoE --include='*.c' --include='*.h' --include='*.cc' \
        '^#include "[^"]+"' "$layer" | sed -E 's/#include "([^"]+)"/\1/')
done

while IFS= read -r hit; do
    violation "$hit: app/ includes a library header that belongs behind a library"
done < <(grep -rnE --include='*.c' --include='*.h' \
    '^#include <(sqlite3|glpk|gsl/[^>]*|ns3/[^>]*)\.h>' app || true)

# the ns-3 backend is chosen behind sim/world.h; app/ never names its shim
while IFS= read -r hit; do
    violation "$hit: app/ includes the ns-3 shim (use sim/world.h)"
done < <(grep -rnE --include='*.c' --include='*.h' '^#include "sim/ns3/' app || true)

lines=$(cat app/*.c | wc -l)
[ "$lines" -lt 4000 ] || violation "app/*.c has $lines lines (the command layer stays under 4,000)"

[ $fail -eq 0 ] && echo "check-layers: ok (app/*.c: $lines lines)"
exit $fail
