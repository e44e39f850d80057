# Network namespaces joined by a veth pair, for the scripts that run processes on either side
# of a real kernel link: tests/test_net.sh (the socket cluster under kernel drops),
# tools/measure-sockets.sh and tools/measure-kernel-tcp.sh. Sourced, not run; needs root and
# iproute2's `ip`. Not here: making and naming the namespaces, the drop rules (iptables or
# nft, each script its own), tools/ground-truth.sh's bridge of many namespaces.

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
