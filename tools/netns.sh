# Network namespaces joined by a veth pair, for the scripts that run processes on either side
# of a real kernel link: tests/test_net.sh (the socket cluster under kernel drops),
# tools/measure-sockets.sh and tools/measure-kernel-tcp.sh. Sourced, not run; needs root and
# iproute2's `ip`. Also what tools/measure-sockets.sh and tools/bench-sockets-defaults.sh
# share: two namespaces $NS_R and $NS_W named for this process (netns_names), with iptables
# drops (netns_iptables_pair, netns_iptables_loss), and running a command in one of them
# (netns_in_mode). Not here: other drop rules (nft, each script its own),
# tools/ground-truth.sh's bridge of many namespaces.

# netns_veth NS_A DEV_A ADDR_A NS_B DEV_B ADDR_B [GSO_SEGS]: joins the namespaces NS_A and NS_B
# with a veth pair, DEV_A (ADDR_A/24) in NS_A and DEV_B (ADDR_B/24) in NS_B, both ends and lo
# up. GSO_SEGS sets gso_max_segs on both ends first (1: one segment per packet, so one dropped
# frame is one lost segment, as on a real Ethernet link). Returns 1 when the pair cannot be
# made ('ip' says why on stderr), 2 when it is up but gso_max_segs could not be set.
netns_veth() {
    local ns_a=$1 dev_a=$2 addr_a=$3 ns_b=$4 dev_b=$5 addr_b=$6 segs=${7:-} rc=0 nd
    ip link add "$dev_a" netns "$ns_a" type veth peer name "$dev_b" netns "$ns_b" || return 1
    ip -n "$ns_a" addr add "$addr_a/24" dev "$dev_a"
    ip -n "$ns_b" addr add "$addr_b/24" dev "$dev_b"
    for nd in "$ns_a:$dev_a" "$ns_b:$dev_b"; do
        ip -n "${nd%%:*}" link set lo up
        if [ -n "$segs" ]; then
            ip -n "${nd%%:*}" link set "${nd#*:}" gso_max_segs "$segs" 2>/dev/null || rc=2
        fi
        ip -n "${nd%%:*}" link set "${nd#*:}" up
    done
    return $rc
}

# netns_remove NS...: kills whatever still runs in each namespace (the caller started it) and
# deletes the namespace; quiet, never fails.
netns_remove() {
    local ns p
    for ns in "$@"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do
            kill -9 "$p" 2>/dev/null || true
        done
        ip netns del "$ns" 2>/dev/null || true
    done
}

# netns_names PREFIX NET: names unique to this process for the functions below: NS_R and NS_W
# are PREFIX-r-PID and PREFIX-w-PID, IP_R and IP_W NET.S.1 and NET.S.2 (S = PID % 250 + 1).
# shellcheck disable=SC2034 # all of them are read by the caller
netns_names() {
    NS_R=$1-r-$$
    NS_W=$1-w-$$
    IP_R=$2.$(($$ % 250 + 1)).1
    IP_W=$2.$(($$ % 250 + 1)).2
}

# netns_iptables_pair NS_A DEV_A ADDR_A NS_B DEV_B ADDR_B: makes the namespaces NS_A and NS_B
# joined by netns_veth with one segment per packet, for drops by iptables; made_ns=1 once NS_A
# exists (the caller removes both with netns_remove). Returns 1 with a line through the
# caller's `log` (tools/lib.sh) when this machine cannot: not root, no iptables, no namespace
# or veth pair, or iptables not working inside a namespace.
netns_iptables_pair() {
    [ "$(id -u)" -eq 0 ] || { log "netns skipped: needs root"; return 1; }
    command -v iptables >/dev/null 2>&1 || { log "netns skipped: iptables not found"; return 1; }
    ip netns add "$1" 2>/dev/null || { log "netns skipped: cannot create a namespace"; return 1; }
    # shellcheck disable=SC2034 # made_ns: read by the caller's cleanup
    made_ns=1
    ip netns add "$4" || return 1
    local rc=0
    netns_veth "$@" 1 || rc=$?
    [ $rc -ne 1 ] || { log "netns skipped: cannot create a veth pair"; return 1; }
    ip netns exec "$1" iptables -w -L INPUT >/dev/null 2>&1 ||
        { log "netns skipped: iptables does not work in a namespace"; return 1; }
    return 0
}

# netns_iptables_loss P NS:DEV...: random drops with probability P (none for 0) on the INPUT
# of each DEV in its namespace NS (iptables statistic), replacing the rules there.
netns_iptables_loss() {
    local p=$1 nd
    shift
    for nd in "$@"; do
        ip netns exec "${nd%%:*}" iptables -w -F INPUT
        if awk -v p="$p" 'BEGIN { exit !(p > 0) }'; then
            ip netns exec "${nd%%:*}" iptables -w -A INPUT -i "${nd#*:}" -m statistic \
                --mode random --probability "$p" -j DROP
        fi
    done
}

# netns_in_mode MODE ROLE CMD...: runs CMD in the namespace $NS_R (ROLE root) or $NS_W (any
# other ROLE) when MODE is netns, else here.
netns_in_mode() {
    local mode=$1 role=$2
    shift 2
    if [ "$mode" = netns ]; then
        if [ "$role" = root ]; then ip netns exec "$NS_R" "$@"; else ip netns exec "$NS_W" "$@"; fi
    else
        "$@"
    fi
}
