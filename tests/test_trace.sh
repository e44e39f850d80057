#!/usr/bin/env bash
# halo sim --trace (the in-tree engine's trace-event JSON) and --pcap (ns-3's packet
# captures) from the command line (issue 17): the results are the same with and without
# them, the trace has the root's waits and deadlines and the network's losses, its cap is
# kept, wrong combinations fail with one line. The format itself is checked by
# tests/test_trace.c. Case ns3_pcap skips (77) when halo was built without ns-3.
# usage: test_trace.sh HALO_BINARY SOURCE_DIR CASE
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
scenario_script trace "$@"

results() { sed -E 's/"wall_s": [0-9.e+-]+/"wall_s": X/g' "$1"; }

case_sim_trace() {
    # HALO under 5% loss (headline point 1): relaxed syncs with deadlines, datagrams lost
    expect_ok sim --json --point 1 --run 0 "$sc/headline.yaml"
    cp "$tmp/out" "$tmp/plain.json"
    expect_ok sim --json --point 1 --run 0 --trace "$tmp/t.json" "$sc/headline.yaml"
    check "the results do not change with a trace" cmp -s <(results "$tmp/plain.json") <(results "$tmp/out")
    check "the trace is a trace-event object" grep -q '^{"displayTimeUnit":"ms","traceEvents":\[' "$tmp/t.json"
    if command -v jq >/dev/null; then
        check "valid JSON (jq)" jq -e '.traceEvents | length > 1000' "$tmp/t.json"
    fi
    local ev
    for ev in compute send recv wait "deadline armed" "deadline passed" "datagram lost" "message lost"; do
        check "the trace has '$ev' events" grep -q "\"name\":\"$ev\"" "$tmp/t.json"
    done
    check "devices are named" grep -q '"args":{"name":"device 0 (root): rpi4b"}' "$tmp/t.json"
    check "nothing dropped under the default cap" grep -q '"dropped_events":0,' "$tmp/t.json"
    # distributed-llama under 5% loss: TCP retransmissions
    expect_ok sim --point 5 --run 0 --trace "$tmp/s.json" "$sc/loss-strict.yaml"
    check "a lossy stream run has lost segments" grep -q '"name":"segment lost"' "$tmp/s.json"
    check "and their retransmissions" grep -q '"name":"retransmit"' "$tmp/s.json"
    expect_ok sim --point 1 --run 0 --trace "$tmp/c.json" --trace-max-events 100 "$sc/headline.yaml"
    check "the cap is kept and the rest counted" grep -qE '"events":100,"dropped_events":[1-9][0-9]*,"max_events":100' "$tmp/c.json"
    expect_fail 1 "no/such/dir/t.json" -- sim --trace "$tmp/no/such/dir/t.json" "$sc/headline.yaml"
    expect_fail 1 "traces come from the in-tree engine only" -- sim --engine ns3 --trace "$tmp/n.json" "$sc/ns3-cross.yaml"
    expect_fail 1 "packet captures come from the ns-3 engine only" -- sim --pcap "$tmp/p" "$sc/headline.yaml"
    expect_fail 2 "--trace-max-events" -- sim --trace-max-events 0 --trace "$tmp/z.json" "$sc/headline.yaml"
}

case_ns3_pcap() {
    if ! halo sim --engine ns3 --point 0 "$sc/ns3-cross.yaml" >/dev/null 2>&1; then
        echo "# skip: halo was built without ns-3"
        exit 77
    fi
    expect_ok sim --json --engine ns3 --point 2 "$sc/ns3-cross.yaml"
    cp "$tmp/out" "$tmp/plain.json"
    expect_ok sim --json --engine ns3 --point 2 --pcap "$tmp/cap" "$sc/ns3-cross.yaml"
    check "the results do not change with captures" cmp -s <(results "$tmp/plain.json") <(results "$tmp/out")
    local d
    for d in 0 1 2 3; do
        check "device $d: a pcap file" test "$(od -An -tx1 -N4 "$tmp/cap-$d.pcap" | tr -d ' ')" = d4c3b2a1
        check "device $d: with packets" test "$(stat -c %s "$tmp/cap-$d.pcap")" -gt 1000
    done
    check "no capture of a fifth device" test ! -e "$tmp/cap-4.pcap"
    if command -v tcpdump >/dev/null; then
        check "tcpdump reads the root's capture: its IP packets" \
            bash -c "tcpdump -r '$tmp/cap-0.pcap' -n 2>/dev/null | grep -c ' IP 10\\.' | grep -qv '^0$'"
    fi
    expect_fail 1 "no/dir/cap-0.pcap" -- sim --engine ns3 --pcap "$tmp/no/dir/cap" "$sc/ns3-cross.yaml"
}

run_cases sim_trace ns3_pcap
finish
