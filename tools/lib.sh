# tools/lib.sh: what the measurement scripts in tools/ share (sourced, never run): the help
# text taken from a script's header comment, the end of their option loops, log lines on
# stderr named after the script, files made once, and the real-time priority of the systems
# measured. Defines functions and the variable `tool`; runs nothing.

tool=$(basename "$0" .sh)

# script_help: the script's header comment (line 2 up to its `set -euo` line) without the
# leading '# '.
script_help() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

# log MESSAGE...: "TOOL: MESSAGE" on stderr.
log() { echo "$tool: $*" >&2; }

# other_arg ARG: an argument that a script's option loop does not take itself: -h or --help
# prints the help and exits 0; anything else exits 2 with "TOOL: unknown argument ARG".
other_arg() {
    case "$1" in
    -h | --help) script_help; exit 0 ;;
    *) log "unknown argument $1"; exit 2 ;;
    esac
}

# make_file OUT CMD...: unless OUT exists and is not empty, runs CMD with @OUT@ in its
# arguments replaced by OUT.tmp (its stdout to stderr), then renames OUT.tmp to OUT.
make_file() {
    local f=$1
    shift
    [ -s "$f" ] && return 0
    log "writing $f"
    "${@//@OUT@/$f.tmp}" >&2
    mv "$f.tmp" "$f"
}

# rt_prio RT: the array prio becomes (chrt -f 5), SCHED_FIFO 5 for the systems under test,
# when RT is 1 and this process may use it; otherwise it is empty (with a log line saying so
# when RT is 1).
rt_prio() {
    prio=()
    if [ "$1" = 1 ]; then
        if chrt -f 5 true 2>/dev/null; then
            prio=(chrt -f 5)
        else
            log "chrt -f not permitted: the systems run at normal priority (--no-rt)"
        fi
    fi
}
