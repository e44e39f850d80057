#!/usr/bin/env bash
# splice-doc.sh FILE NAME < TEXT: replaces what lies between the lines
#   <!-- NAME: begin -->
#   <!-- NAME: end -->
# of the markdown file FILE with TEXT (standard input), so that a measuring script writes its
# own tables into a page and nobody types figures. Both marker lines must be present, once
# each; FILE is replaced atomically (a temporary file renamed over it).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: splice-doc.sh FILE NAME < TEXT" >&2; exit 2; }
file=$1 name=$2
begin="<!-- $name: begin -->" end="<!-- $name: end -->"
[ "$(grep -cxF -- "$begin" "$file")" = 1 ] && [ "$(grep -cxF -- "$end" "$file")" = 1 ] ||
    { echo "splice-doc.sh: $file needs one line '$begin' and one line '$end'" >&2; exit 1; }
text=$(mktemp "${TMPDIR:-/tmp}/splice-XXXXXX")
trap 'rm -f "$text" "$file.splice"' EXIT
cat >"$text"
awk -v b="$begin" -v e="$end" -v t="$text" '
    $0 == b { print; while ((getline line < t) > 0) print line; skip = 1; next }
    $0 == e { skip = 0 }
    !skip' "$file" >"$file.splice"
mv "$file.splice" "$file"
