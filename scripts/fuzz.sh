#!/usr/bin/env bash
# Runs the libFuzzer targets of fuzz/ (built by `make fuzz` into build/fuzz/fuzz/) for a fixed
# time each, JOBS at a time, and prints one line per target. docs/fuzzing.md.
#
#   scripts/fuzz.sh SECONDS [JOBS] [TARGET...]   default JOBS 1, every target
#
# Each target starts from its committed seeds (fuzz/corpus/<target>/) plus what earlier runs
# here found (build/fuzz/corpus/<target>/, where new inputs go). A finding (crash, sanitizer
# report, leak, an input slower than 10 s or over 2 GB) leaves the input in
# build/fuzz/artifacts/<target>-* and the log in build/fuzz/logs/<target>.log, and makes the
# script exit 1 after every target ran. Reproduce with build/fuzz/fuzz/fuzz_<target> FILE.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() {
    echo "usage: $0 SECONDS [JOBS] [TARGET...]" >&2
    exit 2
}
[ $# -ge 1 ] || usage
secs=$1
shift
[[ $secs =~ ^[0-9]+$ ]] && [ "$secs" -ge 1 ] || usage
jobs=1
if [ $# -ge 1 ] && [[ $1 =~ ^[0-9]+$ ]]; then
    jobs=$1
    shift
fi
all=(tokenizer model gguf scenario clusterfile predictor wire frame regress)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

bin=build/fuzz/fuzz
for t in "${targets[@]}"; do
    [ -x "$bin/fuzz_$t" ] || {
        echo "fuzz.sh: $bin/fuzz_$t not built (make fuzz)" >&2
        exit 1
    }
    mkdir -p "build/fuzz/corpus/$t"
done
mkdir -p build/fuzz/artifacts build/fuzz/logs

# One target: fuzz, then summarise its log.
run_one() {
    local t=$1 secs=$2 log=build/fuzz/logs/$1.log rc=0
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "build/fuzz/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="build/fuzz/artifacts/$t-" \
        "build/fuzz/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
    local runs cov
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    printf '%-12s %s  %ss  %s runs  cov %s  corpus %s\n' "$t" \
        "$([ $rc -eq 0 ] && echo ok || echo "FINDING (rc $rc, $log)")" "$secs" "${runs:-?}" \
        "${cov:-?}" "$(ls "build/fuzz/corpus/$t" | wc -l)"
    return $rc
}
export -f run_one

start=$(date +%s)
status=0
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} "$secs" ||
    status=1
echo "fuzz.sh: ${#targets[@]} targets, ${secs}s each, $jobs at a time: $(($(date +%s) - start))s"
exit $status
