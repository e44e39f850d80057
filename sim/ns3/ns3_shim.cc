/*
 * The ns-3 backend (sim/ns3/ns3_shim.h): the in-tree engine's world, run by ns-3 3.37.
 * Sections: ns-3 classes (padding device, per-direction channel, loss model), the world
 * (setup, datagrams, streams, timers, run), the C entry points.
 *
 * Only codes cross the C boundary: every entry point catches every C++ exception, and every
 * argument is validated before ns-3 sees it (ns-3 aborts on bad input, it does not throw).
 * ns-3's simulator and node list are process-global, so one world exists at a time.
 */
extern "C" {
#include "sim/ns3/ns3_shim.h"

#include "core/rng.h"
#include "core/wire.h"
}

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <new>
#include <ns3/boolean.h>
#include <ns3/data-rate.h>
#include <ns3/drop-tail-queue.h>
#include <ns3/error-model.h>
#include <ns3/inet-socket-address.h>
#include <ns3/internet-stack-helper.h>
#include <ns3/ipv4-header.h>
#include <ns3/ipv4-l3-protocol.h>
#include <ns3/ipv4-static-routing-helper.h>
#include <ns3/ipv4-static-routing.h>
#include <ns3/ipv4.h>
#include <ns3/mac48-address.h>
#include <ns3/node.h>
#include <ns3/nstime.h>
#include <ns3/packet.h>
#include <ns3/point-to-point-channel.h>
#include <ns3/point-to-point-helper.h>
#include <ns3/point-to-point-net-device.h>
#include <ns3/pointer.h>
#include <ns3/ppp-header.h>
#include <ns3/queue-size.h>
#include <ns3/random-variable-stream.h>
#include <ns3/rng-seed-manager.h>
#include <ns3/simulator.h>
#include <ns3/socket.h>
#include <ns3/tcp-cubic.h>
#include <ns3/tcp-header.h>
#include <ns3/tcp-l4-protocol.h>
#include <ns3/tcp-linux-reno.h>
#include <ns3/tcp-prr-recovery.h>
#include <ns3/tcp-recovery-ops.h>
#include <ns3/tcp-socket-base.h>
#include <ns3/tcp-socket-factory.h>
#include <ns3/tcp-socket-state.h>
#include <ns3/udp-socket-factory.h>
#include <ns3/uinteger.h>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using namespace ns3;

constexpr int kUdpIpHeader = 28; /* IPv4 20 + UDP 8 */
constexpr int kNs3UdpWire = 30;  /* IPv4 20 + UDP 8 + PPP 2: ns-3's own per-datagram bytes */
constexpr int kTcpIpHeader = 52; /* IPv4 20 + TCP 20 + timestamps 12 */
constexpr uint16_t kTcpPort = 5000;
constexpr uint16_t kUdpPort = 6000;
constexpr int kMaxNodes = 4096;
constexpr uint64_t kMaxDelayNs = (uint64_t)1 << 62; /* beyond: a "negative" or absurd time */

class World;
World *g_world = nullptr; /* ns-3 itself is process-global: one world at a time */

/* ==== ns-3 classes ==== */

/* The TypeId ns-3 needs of each of our classes: T, derived from Parent, in group "halo". */
template <class T, class Parent> TypeId halo_type_id(const char *name) {
    TypeId tid = TypeId(name).SetParent<Parent>().SetGroupName("halo");
    return tid.AddConstructor<T>();
}

/* A point-to-point device that pads every frame so that its size on the wire is the in-tree
 * engine's (link framing beyond PPP's 2 bytes); IPv4 trims the padding on receipt. */
class PadDevice : public PointToPointNetDevice {
  public:
    static TypeId GetTypeId() {
        static TypeId tid = halo_type_id<PadDevice, PointToPointNetDevice>("halo::PadDevice");
        return tid;
    }

    uint32_t pad_bytes = 0;
    uint32_t tcp_extra_bytes = 0; /* TCP without the timestamp option: its 12 bytes */

    bool Send(Ptr<Packet> packet, const Address &dest, uint16_t protocol) override {
        uint32_t pad = pad_bytes;
        Ipv4Header ip;
        if (tcp_extra_bytes && packet->PeekHeader(ip) && ip.GetProtocol() == 6)
            pad += tcp_extra_bytes;
        if (pad)
            packet->AddPaddingAtEnd(pad);
        return PointToPointNetDevice::Send(packet, dest, protocol);
    }
};

/* A point-to-point channel whose two directions have their own latency and jitter (uniform
 * in [0, jitter], FIFO kept: a packet never overtakes the one before it). */
class DirChannel : public PointToPointChannel {
  public:
    static TypeId GetTypeId() {
        static TypeId tid = halo_type_id<DirChannel, PointToPointChannel>("halo::DirChannel");
        return tid;
    }

    uint64_t latency_ns[2] = {0, 0};
    uint64_t jitter_ns[2] = {0, 0};
    Ptr<UniformRandomVariable> rng[2];
    Time last_arrival[2];

    bool TransmitStart(Ptr<const Packet> p, Ptr<PointToPointNetDevice> src, Time tx_time) override {
        int dir = src == GetPointToPointDevice(0) ? 0 : 1;
        Ptr<PointToPointNetDevice> dst = GetPointToPointDevice(1 - dir);
        uint64_t jitter = 0;
        if (jitter_ns[dir]) {
            double u = rng[dir]->GetValue(0.0, (double)jitter_ns[dir] + 1.0);
            jitter = (uint64_t)u;
            if (jitter > jitter_ns[dir])
                jitter = jitter_ns[dir];
        }
        Time at = Simulator::Now() + tx_time + NanoSeconds((int64_t)(latency_ns[dir] + jitter));
        if (at < last_arrival[dir])
            at = last_arrival[dir];
        last_arrival[dir] = at;
        Simulator::ScheduleWithContext(dst->GetNode()->GetId(), at - Simulator::Now(),
                                       &PointToPointNetDevice::Receive, dst, p->Copy());
        return true;
    }
};

/* Per-packet loss on a receiving device: Bernoulli or Gilbert-Elliott, as the in-tree engine
 * draws it, from a fixed ns-3 random stream. Reports each drop to the world (stats, and a
 * datagram's lost fragment). */
class LossModel : public ErrorModel {
  public:
    static TypeId GetTypeId() {
        static TypeId tid = halo_type_id<LossModel, ErrorModel>("halo::LossModel");
        return tid;
    }

    halo_loss_spec spec{};
    int bad = 0;
    Ptr<UniformRandomVariable> rng;

  private:
    bool DoCorrupt(Ptr<Packet> p) override;

    void DoReset() override {
        bad = 0;
    }
};

/* ==== The world ==== */

struct Dgram {
    int src, dst;
    int remaining; /* fragments neither arrived nor lost */
    bool lost;
    std::vector<unsigned char> data;
};

struct StreamMsg {
    uint64_t end; /* stream offset just past the message */
    std::vector<unsigned char> data;
};

/* One direction of a node pair's TCP connection. */
struct Direction {
    uint64_t written = 0;  /* bytes queued by send */
    uint64_t pushed = 0;   /* bytes handed to the sending socket */
    uint64_t received = 0; /* bytes read at the receiving socket */
    std::deque<StreamMsg> msgs;
};

struct SockInfo {
    class World *world;
    int node, peer;       /* the socket lives on `node`, connected to `peer` */
    uint64_t max_end = 0; /* highest sequence end sent (retransmission detection) */
    bool have_seq = false;
    uint32_t first_seq = 0;
};

struct NodeState {
    Ptr<Node> node;
    Ptr<PadDevice> dev;     /* the node's side of its link */
    Ptr<PadDevice> sw_dev;  /* the switch's side */
    Ptr<LossModel> up_loss; /* on sw_dev: uplink (node -> switch) losses */
    Ptr<LossModel> down_loss;
    uint32_t addr = 0;
    halo_device_clock clock{};
    halo_device_profile profile{};
    halo_rng jitter_rng{}; /* recv_jitter_ns draws: stream (seed, run, node, 4), as in-tree */
    halo_recv_fn recv = nullptr;
    void *recv_ctx = nullptr;
    halo_sim_node_stats stats{};
    Ptr<Socket> udp;
    Ptr<Socket> listener;
    std::vector<Ptr<Socket>> tcp; /* (n): socket to each peer, or null */
};

class World {
  public:
    halo_transport base{};
    int n = 0;
    int delivery = HALO_DELIVERY_DATAGRAM;
    halo_ns3_settings settings{};
    halo_tcp_config tcp{};
    std::vector<NodeState> nodes;
    Ptr<Node> sw;
    std::unordered_map<uint32_t, int> addr_node;
    std::unordered_map<uint64_t, std::shared_ptr<Dgram>> dgrams; /* by fragment packet uid */
    std::vector<Direction> dirs;                                 /* (n, n): src * n + dst */
    std::map<Socket *, std::unique_ptr<SockInfo>> socks;
    std::unordered_map<uint64_t, EventId> timers;
    uint64_t next_timer_id = 1;
    int64_t t0_ns = 0;    /* simulator time of the world's time 0 (after the handshakes) */
    uint64_t events0 = 0; /* simulator events before time 0 */
    int connected = 0;    /* TCP setup: connections completed (both ends counted) */
    bool failed = false;  /* an allocation failed inside an event */
    halo_done_fn done = nullptr;
    void *done_arg = nullptr;
    bool stopping = false;
    int delivering = -1; /* the node whose receive callback runs */

    uint64_t Now() const {
        int64_t t = Simulator::Now().GetNanoSeconds() - t0_ns;
        return t > 0 ? (uint64_t)t : 0;
    }

    uint64_t NodeNow(int i) const {
        uint64_t t = Now();
        return nodes[(size_t)i].clock.busy_until_ns > t ? nodes[(size_t)i].clock.busy_until_ns : t;
    }

    /* After every C callback: stop the simulator as soon as the run's condition holds. */
    void AfterCallback() {
        if (!stopping && done && done(done_arg)) {
            stopping = true;
            Simulator::Stop();
        }
    }

    int NodeOf(uint32_t addr) const {
        auto it = addr_node.find(addr);
        return it == addr_node.end() ? -1 : it->second;
    }

    /* A packet (with its PPP header) was dropped by a loss model or a full queue. */
    void OnDrop(Ptr<const Packet> p) {
        auto it = dgrams.find(p->GetUid());
        Ptr<Packet> c = p->Copy();
        PppHeader ppp;
        Ipv4Header ip;
        int src = -1;
        if (c->RemoveHeader(ppp) && c->GetSize() >= 20 && c->PeekHeader(ip))
            src = NodeOf(ip.GetSource().Get());
        if (src >= 0)
            nodes[(size_t)src].stats.packets_lost++;
        if (it != dgrams.end()) {
            std::shared_ptr<Dgram> d = it->second;
            dgrams.erase(it);
            FragmentDone(d, true);
        }
    }

    /* The receiver takes a message when it is free, after its host cost (device profile:
       recv_ns per message, copy_ns_per_kb of its size on the wire: an elided payload counts in
       full) and, when it was waiting, its wake-up's varying delay (recv_jitter_ns) and the
       cost of its sleep's length (cold_wake_ns), as the in-tree engine. */
    void ChargeReceive(int dst, const std::vector<unsigned char> &data) {
        NodeState &r = nodes[(size_t)dst];
        uint64_t cost = halo_device_host_ns(&r.profile, r.profile.recv_ns,
                                            halo_wire_charged_size(data.data(), data.size()));
        if (r.clock.busy_until_ns <= Now()) {
            if (r.profile.recv_jitter_ns) {
                double u = halo_rng_f64(&r.jitter_rng);
                cost +=
                    (uint64_t)std::llround(-(double)r.profile.recv_jitter_ns * std::log(1.0 - u));
            }
            cost += halo_device_cold_wake_ns(&r.profile, Now() - r.clock.busy_until_ns);
        }
        if (!cost)
            return;
        uint64_t start = NodeNow(dst);
        r.clock.busy_until_ns = start + cost;
        r.stats.host_ns += cost;
    }

    /* Datagrams a message of `charged` bytes from src takes (one per MTU; at least one). */
    int Fragments(int src, uint64_t charged) const {
        uint64_t frag = (uint64_t)(upmtu(src) - kUdpIpHeader);
        return charged == 0 ? 1 : (int)((charged + frag - 1) / frag);
    }

    /* ---- datagrams ---- */

    void FragmentDone(const std::shared_ptr<Dgram> &d, bool lost) {
        d->lost = d->lost || lost;
        if (--d->remaining > 0)
            return;
        if (d->lost) {
            nodes[(size_t)d->src].stats.msgs_lost++;
            return;
        }
        nodes[(size_t)d->src].stats.msgs_delivered++;
        ChargeReceive(d->dst, d->data);
        NodeState &r = nodes[(size_t)d->dst];
        if (r.recv) {
            delivering = d->dst;
            r.recv(r.recv_ctx, d->src, d->data.data(), d->data.size());
            delivering = -1;
            AfterCallback();
        }
    }

    void DgramSend(int src, int dst, std::vector<unsigned char> &&data) {
        uint64_t charged = halo_wire_charged_size(data.data(), data.size());
        uint64_t frag = (uint64_t)(upmtu(src) - kUdpIpHeader);
        int n_frag = Fragments(src, charged);
        auto d = std::make_shared<Dgram>();
        d->src = src;
        d->dst = dst;
        d->remaining = n_frag;
        d->lost = false;
        d->data = std::move(data);
        InetSocketAddress to(Ipv4Address(nodes[(size_t)dst].addr), kUdpPort);
        for (int i = 0; i < n_frag; i++) {
            uint64_t bytes = i + 1 < n_frag ? frag : charged - frag * (uint64_t)(n_frag - 1);
            Ptr<Packet> p = Create<Packet>((uint32_t)bytes);
            dgrams[p->GetUid()] = d;
            if (nodes[(size_t)src].udp->SendTo(p, 0, to) < 0) {
                /* refused before reaching a device: the fragment is lost */
                auto it = dgrams.find(p->GetUid());
                if (it != dgrams.end()) {
                    dgrams.erase(it);
                    nodes[(size_t)src].stats.packets_lost++;
                    FragmentDone(d, true);
                }
            }
        }
    }

    void UdpRecv(Ptr<Socket> s) {
        Address from;
        Ptr<Packet> p;
        while ((p = s->RecvFrom(from))) {
            auto it = dgrams.find(p->GetUid());
            if (it == dgrams.end())
                continue;
            std::shared_ptr<Dgram> d = it->second;
            dgrams.erase(it);
            FragmentDone(d, false);
        }
    }

    /* ---- streams ---- */

    Direction &Dir(int src, int dst) {
        return dirs[(size_t)src * (size_t)n + (size_t)dst];
    }

    void Push(int src, int dst) {
        Direction &d = Dir(src, dst);
        Ptr<Socket> s = nodes[(size_t)src].tcp[(size_t)dst];
        while (d.pushed < d.written) {
            uint32_t avail = s->GetTxAvailable();
            if (avail == 0)
                return;
            uint64_t want = d.written - d.pushed;
            uint32_t chunk = want < avail ? (uint32_t)want : avail;
            int sent = s->Send(Create<Packet>(chunk));
            if (sent <= 0)
                return;
            d.pushed += (uint64_t)sent;
        }
    }

    void StreamSend(int src, int dst, std::vector<unsigned char> &&data) {
        Direction &d = Dir(src, dst);
        d.written += halo_wire_charged_size(data.data(), data.size());
        d.msgs.push_back(StreamMsg{d.written, std::move(data)});
        Push(src, dst);
    }

    void TcpRecv(Ptr<Socket> s) {
        auto it = socks.find(PeekPointer(s));
        if (it == socks.end())
            return;
        int dst = it->second->node, src = it->second->peer;
        Ptr<Packet> p;
        Direction &d = Dir(src, dst);
        while ((p = s->Recv()))
            d.received += p->GetSize();
        while (!d.msgs.empty() && d.msgs.front().end <= d.received) {
            std::vector<unsigned char> data = std::move(d.msgs.front().data);
            d.msgs.pop_front();
            nodes[(size_t)src].stats.msgs_delivered++;
            ChargeReceive(dst, data);
            NodeState &r = nodes[(size_t)dst];
            if (r.recv) {
                delivering = dst;
                r.recv(r.recv_ctx, src, data.data(), data.size());
                delivering = -1;
                AfterCallback();
            }
        }
    }

    void TcpSpace(Ptr<Socket> s, uint32_t) {
        auto it = socks.find(PeekPointer(s));
        if (it != socks.end())
            Push(it->second->node, it->second->peer);
    }

    static void TxTrace(SockInfo *si, Ptr<const Packet> p, const TcpHeader &h,
                        Ptr<const TcpSocketBase>) {
        uint32_t len = p->GetSize();
        if (len == 0)
            return;
        uint32_t seq = h.GetSequenceNumber().GetValue();
        if (!si->have_seq) {
            si->have_seq = true;
            si->first_seq = seq;
        }
        uint64_t start = (uint64_t)(uint32_t)(seq - si->first_seq);
        /* offsets from the first data byte; 32-bit wrap is ignored (4 GiB per connection) */
        if (start + len <= si->max_end)
            si->world->nodes[(size_t)si->node].stats.retransmits++;
        else
            si->max_end = start + len;
    }

    static void CongTrace(SockInfo *si, TcpSocketState::TcpCongState_t,
                          TcpSocketState::TcpCongState_t now) {
        if (now == TcpSocketState::CA_LOSS)
            si->world->nodes[(size_t)si->node].stats.timeouts++;
    }

    void Register(Ptr<Socket> s, int node, int peer) {
        auto si = std::make_unique<SockInfo>();
        si->world = this;
        si->node = node;
        si->peer = peer;
        SockInfo *raw = si.get();
        socks[PeekPointer(s)] = std::move(si);
        nodes[(size_t)node].tcp[(size_t)peer] = s;
        s->SetRecvCallback(MakeCallback(&World::TcpRecv, this));
        s->SetSendCallback(MakeCallback(&World::TcpSpace, this));
        s->TraceConnectWithoutContext("Tx", MakeBoundCallback(&World::TxTrace, raw));
        s->TraceConnectWithoutContext("CongState", MakeBoundCallback(&World::CongTrace, raw));
    }

    void Connected(Ptr<Socket>) {
        connected++;
        if (connected == n * (n - 1))
            Simulator::Stop();
    }

    void ConnectFailed(Ptr<Socket>) {
    }

    void Accept(Ptr<Socket> s, const Address &from) {
        int peer = NodeOf(InetSocketAddress::ConvertFrom(from).GetIpv4().Get());
        int me = -1;
        Ptr<Node> node = s->GetNode();
        for (int i = 0; i < n; i++)
            if (nodes[(size_t)i].node == node)
                me = i;
        if (peer < 0 || me < 0)
            return;
        Register(s, me, peer);
        connected++;
        if (connected == n * (n - 1))
            Simulator::Stop();
    }

    /* ---- setup ---- */

    int upmtu(int i) const {
        return mtus[(size_t)i];
    }

    std::vector<int> mtus;

    /* Every TCP attribute the shim sets; halo_ns3_settings_json records the same values. */
    void ConfigureTcp(Ptr<Socket> s, int mtu) {
        int seg = settings.segment_bytes > 0 ? settings.segment_bytes : mtu - kTcpIpHeader;
        halo_ns3_timing tm;
        halo_ns3_tcp_timing(&tcp, &settings, &tm);
        s->SetAttribute("SegmentSize", UintegerValue((uint32_t)seg));
        s->SetAttribute("InitialCwnd", UintegerValue((uint32_t)tcp.init_cwnd));
        s->SetAttribute("DelAckTimeout", TimeValue(NanoSeconds((int64_t)tm.delack_ns)));
        s->SetAttribute("DelAckCount", UintegerValue((uint32_t)settings.delack_count));
        s->SetAttribute("SndBufSize", UintegerValue((uint32_t)settings.sndbuf_bytes));
        s->SetAttribute("RcvBufSize", UintegerValue((uint32_t)settings.rcvbuf_bytes));
        s->SetAttribute("TcpNoDelay", BooleanValue(true));
        /* Linux's tcp_retries2 (ns-3's default of 6 closes a connection under heavy loss) */
        s->SetAttribute("DataRetries", UintegerValue(15));
        s->SetAttribute("ConnTimeout", TimeValue(NanoSeconds((int64_t)tm.conn_timeout_ns)));
        /* Linux's RTO formula (halo_ns3_tcp_timing) */
        s->SetAttribute("MinRto", TimeValue(NanoSeconds((int64_t)tm.min_rto_ns)));
        s->SetAttribute("ClockGranularity", TimeValue(NanoSeconds((int64_t)tm.granularity_ns)));
        s->SetAttribute("ReTxThreshold",
                        UintegerValue((uint32_t)halo_ns3_retx_threshold(&tcp, &settings)));
        s->SetAttribute("LimitedTransmit", BooleanValue(true));
        s->SetAttribute("Sack", BooleanValue(settings.sack != 0));
        s->SetAttribute("Timestamp", BooleanValue(settings.timestamps != 0));
    }

    void Build(const halo_sim_config *cfg);
    void ConnectMesh();
};

bool LossModel::DoCorrupt(Ptr<Packet> p) {
    if (!IsEnabled()) /* ErrorModel::IsCorrupt does not check it in ns-3 3.37 */
        return false;
    const halo_loss_spec &s = spec;
    bool lost = false;
    if (s.model == HALO_LOSS_BERNOULLI) {
        lost = s.p > 0 && rng->GetValue() < s.p;
    } else if (s.model == HALO_LOSS_GILBERT) {
        double pl = bad ? s.loss_bad : s.loss_good;
        lost = pl > 0 && rng->GetValue() < pl;
        double flip = bad ? s.p_bad_good : s.p_good_bad;
        if (flip > 0 && rng->GetValue() < flip)
            bad = !bad;
    }
    if (lost && g_world)
        g_world->OnDrop(p);
    return lost;
}

void QueueDrop(World *w, Ptr<const Packet> p) {
    w->OnDrop(p);
}

void TxCount(NodeState *ns, Ptr<const Packet> p) {
    ns->stats.packets_sent++;
    ns->stats.bytes_on_wire += p->GetSize();
}

Ptr<PadDevice> MakeDevice(Ptr<Node> node, double bps, int mtu, int header_bytes,
                          uint64_t queue_bytes, uint64_t queue_packets) {
    Ptr<PadDevice> dev = CreateObject<PadDevice>();
    dev->SetAddress(Mac48Address::Allocate());
    dev->SetDataRate(DataRate((uint64_t)std::llround(bps)));
    /* room for TCP options beyond timestamps (SACK blocks): no IP fragmentation */
    dev->SetMtu((uint16_t)(mtu + 64));
    dev->pad_bytes = (uint32_t)(header_bytes - kNs3UdpWire);
    Ptr<DropTailQueue<Packet>> q = CreateObject<DropTailQueue<Packet>>();
    if (queue_bytes)
        q->SetMaxSize(QueueSize(QueueSizeUnit::BYTES, (uint32_t)queue_bytes));
    else
        q->SetMaxSize(QueueSize(QueueSizeUnit::PACKETS, (uint32_t)queue_packets));
    dev->SetQueue(q);
    node->AddDevice(dev);
    return dev;
}

void World::Build(const halo_sim_config *cfg) {
    n = cfg->n_nodes;
    delivery = cfg->delivery;
    tcp = cfg->tcp;
    RngSeedManager::SetSeed((uint32_t)(cfg->seed % 4294967294ull) + 1u);
    RngSeedManager::SetRun(cfg->run);
    nodes.resize((size_t)n);
    mtus.resize((size_t)n);
    sw = CreateObject<Node>();
    NodeContainer all;
    for (int i = 0; i < n; i++) {
        nodes[(size_t)i].node = CreateObject<Node>();
        nodes[(size_t)i].profile = cfg->devices[i];
        halo_rng_init_stream(&nodes[(size_t)i].jitter_rng, cfg->seed, cfg->run, (uint64_t)i, 4);
        nodes[(size_t)i].tcp.resize((size_t)n);
        mtus[(size_t)i] = cfg->uplink[i].mtu_bytes;
        all.Add(nodes[(size_t)i].node);
    }
    all.Add(sw);
    InternetStackHelper stack;
    Ipv4StaticRoutingHelper static_routing;
    stack.SetRoutingHelper(static_routing);
    stack.SetIpv6StackInstall(false);
    stack.Install(all);
    stack.AssignStreams(all, 1000000);
    if (delivery == HALO_DELIVERY_STREAM) {
        for (int i = 0; i < n + 1; i++) {
            Ptr<TcpL4Protocol> l4 = all.Get((uint32_t)i)->GetObject<TcpL4Protocol>();
            std::string cc = settings.congestion;
            TypeId tid = cc == "cubic"        ? TcpCubic::GetTypeId()
                         : cc == "linux-reno" ? TcpLinuxReno::GetTypeId()
                                              : TcpNewReno::GetTypeId();
            l4->SetAttribute("SocketType", TypeIdValue(tid));
            std::string rec = settings.recovery;
            l4->SetAttribute("RecoveryType",
                             TypeIdValue(rec == "prr" ? TcpPrrRecovery::GetTypeId()
                                                      : TcpClassicRecovery::GetTypeId()));
        }
    }
    Ptr<Ipv4> sw_ip = sw->GetObject<Ipv4>();
    for (int i = 0; i < n; i++) {
        NodeState &ns = nodes[(size_t)i];
        const halo_link_spec &up = cfg->uplink[i], &down = cfg->downlink[i];
        ns.dev = MakeDevice(ns.node, up.bandwidth_bps, up.mtu_bytes, up.header_bytes,
                            up.queue_bytes, settings.queue_packets);
        ns.sw_dev = MakeDevice(sw, down.bandwidth_bps, down.mtu_bytes, down.header_bytes,
                               down.queue_bytes, settings.queue_packets);
        ns.dev->tcp_extra_bytes = ns.sw_dev->tcp_extra_bytes = settings.timestamps ? 0 : 12;
        Ptr<DirChannel> ch = CreateObject<DirChannel>();
        ns.dev->Attach(ch); /* device 0 of the channel: direction 0 is the uplink */
        ns.sw_dev->Attach(ch);
        ch->latency_ns[0] = up.latency_ns;
        ch->latency_ns[1] = down.latency_ns;
        ch->jitter_ns[0] = up.jitter_ns;
        ch->jitter_ns[1] = down.jitter_ns;
        /* fixed streams per link and purpose: adding a node reshuffles no other link */
        int64_t stream_base = 8 * (int64_t)i;
        for (int k = 0; k < 2; k++) {
            ch->rng[k] = CreateObject<UniformRandomVariable>();
            ch->rng[k]->SetStream(stream_base + k);
        }
        ns.up_loss = CreateObject<LossModel>();
        ns.up_loss->spec = up.loss;
        ns.up_loss->rng = CreateObject<UniformRandomVariable>();
        ns.up_loss->rng->SetStream(stream_base + 2);
        ns.down_loss = CreateObject<LossModel>();
        ns.down_loss->spec = down.loss;
        ns.down_loss->rng = CreateObject<UniformRandomVariable>();
        ns.down_loss->rng->SetStream(stream_base + 3);
        ns.sw_dev->SetReceiveErrorModel(ns.up_loss);
        ns.dev->SetReceiveErrorModel(ns.down_loss);
        ns.dev->TraceConnectWithoutContext("MacTxDrop", MakeBoundCallback(&QueueDrop, this));
        ns.sw_dev->TraceConnectWithoutContext("MacTxDrop", MakeBoundCallback(&QueueDrop, this));
        ns.dev->TraceConnectWithoutContext("MacTx", MakeBoundCallback(&TxCount, &ns));
        /* addresses: 10.0.0.0/8 cut into /30s, one per device: switch .1, device .2 */
        uint32_t net = (10u << 24) | ((uint32_t)i << 2);
        Ptr<Ipv4> ip = ns.node->GetObject<Ipv4>();
        int32_t ifn = ip->AddInterface(ns.dev);
        ip->AddAddress((uint32_t)ifn,
                       Ipv4InterfaceAddress(Ipv4Address(net + 2), Ipv4Mask("255.255.255.252")));
        ip->SetUp((uint32_t)ifn);
        int32_t ifs = sw_ip->AddInterface(ns.sw_dev);
        sw_ip->AddAddress((uint32_t)ifs,
                          Ipv4InterfaceAddress(Ipv4Address(net + 1), Ipv4Mask("255.255.255.252")));
        sw_ip->SetUp((uint32_t)ifs);
        static_routing.GetStaticRouting(ip)->SetDefaultRoute(Ipv4Address(net + 1), (uint32_t)ifn);
        ns.addr = net + 2;
        addr_node[ns.addr] = i;
        /* sockets */
        ns.udp = Socket::CreateSocket(ns.node, UdpSocketFactory::GetTypeId());
        ns.udp->SetAttribute("RcvBufSize", UintegerValue(1u << 30));
        ns.udp->Bind(InetSocketAddress(Ipv4Address::GetAny(), kUdpPort));
        ns.udp->SetRecvCallback(MakeCallback(&World::UdpRecv, this));
    }
    dirs.resize((size_t)n * (size_t)n);
    if (cfg->pcap_prefix) { /* PREFIX-D.pcap: device D's link to the switch, both
                               directions (issue 17) */
        PointToPointHelper p2p;
        for (int i = 0; i < n; i++)
            p2p.EnablePcap(std::string(cfg->pcap_prefix) + "-" + std::to_string(i) + ".pcap",
                           nodes[(size_t)i].dev, false, true);
    }
}

/* One TCP connection per unordered node pair (the lower index connects), established with
 * losses off; the world's time 0 is the moment the last one is up. */
void World::ConnectMesh() {
    for (int i = 0; i < n; i++) {
        NodeState &ns = nodes[(size_t)i];
        ns.listener = Socket::CreateSocket(ns.node, TcpSocketFactory::GetTypeId());
        ConfigureTcp(ns.listener, mtus[(size_t)i]);
        ns.listener->Bind(InetSocketAddress(Ipv4Address::GetAny(), kTcpPort));
        ns.listener->Listen();
        ns.listener->SetAcceptCallback(MakeNullCallback<bool, Ptr<Socket>, const Address &>(),
                                       MakeCallback(&World::Accept, this));
    }
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) {
            Ptr<Socket> s =
                Socket::CreateSocket(nodes[(size_t)i].node, TcpSocketFactory::GetTypeId());
            ConfigureTcp(s, mtus[(size_t)i]);
            s->Bind();
            Register(s, i, j);
            s->SetConnectCallback(MakeCallback(&World::Connected, this),
                                  MakeCallback(&World::ConnectFailed, this));
            s->Connect(InetSocketAddress(Ipv4Address(nodes[(size_t)j].addr), kTcpPort));
        }
    }
}

World *as_world(halo_transport *t) {
    return reinterpret_cast<World *>(t);
}

/* ==== Transport operations ==== */

int w_attach(halo_transport *t, int i, halo_recv_fn fn, void *ctx, halo_err *err) {
    World *w = as_world(t);
    if (i < 0 || i >= w->n)
        return HALO_FAIL(err, HALO_ERR_ARG, "ns3: no node %d (of %d)", i, w->n);
    w->nodes[(size_t)i].recv = fn;
    w->nodes[(size_t)i].recv_ctx = ctx;
    return HALO_OK;
}

void NetworkSend(World *w, int src, int dst, std::vector<unsigned char> &&data) {
    w->nodes[(size_t)src].stats.msgs_sent++;
    if (w->delivery == HALO_DELIVERY_STREAM)
        w->StreamSend(src, dst, std::move(data));
    else
        w->DgramSend(src, dst, std::move(data));
}

int w_send(halo_transport *t, int src, int dst, const void *msg, size_t len, halo_err *err) {
    World *w = as_world(t);
    if (src < 0 || src >= w->n || dst < 0 || dst >= w->n || src == dst)
        return HALO_FAIL(err, HALO_ERR_ARG, "ns3: cannot send from node %d to node %d", src, dst);
    if (len > ((size_t)1 << 30) || (len > 0 && !msg))
        return HALO_FAIL(err, HALO_ERR_ARG, "ns3: message of %zu bytes is too large or NULL", len);
    try {
        auto data = std::make_shared<std::vector<unsigned char>>(
            static_cast<const unsigned char *>(msg), static_cast<const unsigned char *>(msg) + len);
        /* the sender's host cost */
        NodeState &sn = w->nodes[(size_t)src];
        uint64_t cost =
            halo_device_host_ns(&sn.profile, sn.profile.send_ns, halo_wire_charged_size(msg, len));
        if (cost) {
            uint64_t start = w->NodeNow(src);
            sn.clock.busy_until_ns = start + cost;
            sn.stats.host_ns += cost;
        }
        uint64_t depart = w->NodeNow(src);
        /* always through an event: nothing happens inside send (the transport contract) */
        Simulator::Schedule(NanoSeconds((int64_t)(depart - w->Now())),
                            [w, src, dst, data]() { NetworkSend(w, src, dst, std::move(*data)); });
    } catch (const std::bad_alloc &) {
        return HALO_FAIL(err, HALO_ERR_NOMEM, "ns3: out of memory for a %zu-byte message", len);
    } catch (...) {
        return HALO_FAIL(err, HALO_ERR_NOMEM, "ns3: send failed");
    }
    return HALO_OK;
}

int w_schedule(halo_transport *t, int i, uint64_t delay_ns, halo_timer_fn fn, void *arg,
               uint64_t *timer_id, halo_err *err) {
    World *w = as_world(t);
    if (i < 0 || i >= w->n || !fn)
        return HALO_FAIL(err, HALO_ERR_ARG, "ns3: bad timer for node %d", i);
    uint64_t base = w->NodeNow(i);
    if (delay_ns > kMaxDelayNs || base + delay_ns > kMaxDelayNs)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "ns3: timer delay %llu ns is out of range (negative or beyond 2^62)",
                         (unsigned long long)delay_ns);
    try {
        uint64_t id = w->next_timer_id++;
        uint64_t at = base + delay_ns - w->Now();
        EventId ev = Simulator::Schedule(NanoSeconds((int64_t)at), [w, id, fn, arg]() {
            w->timers.erase(id);
            fn(arg);
            w->AfterCallback();
        });
        w->timers[id] = ev;
        if (timer_id)
            *timer_id = id;
    } catch (...) {
        return HALO_FAIL(err, HALO_ERR_NOMEM, "ns3: out of memory for a timer");
    }
    return HALO_OK;
}

int w_cancel(halo_transport *t, uint64_t timer_id) {
    World *w = as_world(t);
    auto it = w->timers.find(timer_id);
    if (it == w->timers.end())
        return 0;
    Simulator::Cancel(it->second);
    w->timers.erase(it);
    return 1;
}

uint64_t w_now(halo_transport *t, int i) {
    World *w = as_world(t);
    return i < 0 || i >= w->n ? w->Now() : w->NodeNow(i);
}

/* Inside a receive callback, the message's arrival (before the receiver was free and had
   paid its receive cost), as in-tree. */
uint64_t w_arrived(halo_transport *t, int i) {
    World *w = as_world(t);
    return i >= 0 && i == w->delivering ? w->Now() : w_now(t, i);
}

void w_charge(halo_transport *t, int i, const halo_cost *cost) {
    World *w = as_world(t);
    if (i < 0 || i >= w->n || !cost)
        return;
    NodeState &ns = w->nodes[(size_t)i];
    halo_device_charge(&ns.clock, &ns.profile, w->NodeNow(i), cost, &ns.stats);
}

int w_run(halo_transport *t, halo_done_fn done, void *arg, halo_err *err) {
    World *w = as_world(t);
    if (done && done(arg))
        return HALO_OK;
    w->done = done;
    w->done_arg = arg;
    w->stopping = false;
    try {
        Simulator::Run();
    } catch (const std::bad_alloc &) {
        w->failed = true;
    } catch (...) {
        w->failed = true;
    }
    w->done = nullptr;
    w->done_arg = nullptr;
    if (w->failed)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "ns3: out of memory during the simulation");
    if (done && done(arg))
        return HALO_OK;
    return HALO_FAIL(err, HALO_ERR_AGAIN, "ns3: stalled at t=%llu ns, nothing pending",
                     (unsigned long long)w->Now());
}

void w_destroy(halo_transport *t) {
    World *w = as_world(t);
    try {
        for (NodeState &ns : w->nodes) {
            if (ns.udp)
                ns.udp->SetRecvCallback(MakeNullCallback<void, Ptr<Socket>>());
            for (Ptr<Socket> &s : ns.tcp)
                if (s) {
                    s->SetRecvCallback(MakeNullCallback<void, Ptr<Socket>>());
                    s->SetSendCallback(MakeNullCallback<void, Ptr<Socket>, uint32_t>());
                }
        }
        Simulator::Destroy();
    } catch (...) {
    }
    g_world = nullptr;
    delete w;
}

const halo_transport_ops ns3_ops = {
    w_attach,  w_send,  w_schedule, w_cancel,  w_now,   w_charge, w_run,
    w_destroy, nullptr, nullptr,    w_arrived, nullptr, nullptr,
};

/* ==== Validation (everything ns-3 would abort on) ==== */

int check_cfg(const halo_sim_config *cfg, const halo_ns3_settings *s, halo_err *err) {
    if (!cfg)
        return HALO_FAIL(err, HALO_ERR_ARG, "ns3: no configuration");
    if (cfg->n_nodes < 1 || cfg->n_nodes > kMaxNodes)
        return HALO_FAIL(err, HALO_ERR_ARG, "ns3: %d nodes, expected 1..%d", cfg->n_nodes,
                         kMaxNodes);
    if (!cfg->devices || !cfg->uplink || !cfg->downlink)
        return HALO_FAIL(err, HALO_ERR_ARG, "ns3: devices and links are required");
    /* the in-tree engine's checks, exactly: build and free one */
    halo_transport *probe = nullptr;
    int rc = halo_sim_new(&probe, cfg, err);
    halo_transport_free(probe);
    if (rc != HALO_OK)
        return rc;
    for (int i = 0; i < cfg->n_nodes; i++) {
        const halo_link_spec *ls[2] = {&cfg->uplink[i], &cfg->downlink[i]};
        for (int k = 0; k < 2; k++) {
            const char *what = k ? "downlink" : "uplink";
            const halo_link_spec *l = ls[k];
            if (l->bandwidth_bps < 1000.0 || l->bandwidth_bps > 1e15)
                return HALO_FAIL(err, HALO_ERR_ARG,
                                 "ns3: %s of node %d: bandwidth %g not in [1e3, 1e15] bit/s", what,
                                 i, l->bandwidth_bps);
            if (l->mtu_bytes > 65535 - 64)
                return HALO_FAIL(err, HALO_ERR_ARG, "ns3: %s of node %d: mtu %d above %d", what, i,
                                 l->mtu_bytes, 65535 - 64);
            if (l->header_bytes < kNs3UdpWire)
                return HALO_FAIL(err, HALO_ERR_ARG,
                                 "ns3: %s of node %d: header bytes %d below %d (IPv4 + UDP + "
                                 "PPP, what ns-3 puts on the wire itself)",
                                 what, i, l->header_bytes, kNs3UdpWire);
            if (l->queue_bytes > 0xffffffffull)
                return HALO_FAIL(err, HALO_ERR_ARG, "ns3: %s of node %d: queue above 4 GiB", what,
                                 i);
        }
        if (cfg->uplink[i].mtu_bytes != cfg->downlink[i].mtu_bytes)
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "ns3: node %d: uplink and downlink mtu differ (%d, %d)", i,
                             cfg->uplink[i].mtu_bytes, cfg->downlink[i].mtu_bytes);
    }
    if (cfg->delivery == HALO_DELIVERY_STREAM) {
        const halo_tcp_config &t = cfg->tcp;
        if (t.init_cwnd < 1 || t.init_cwnd > 100000 || t.rto_min_ns == 0 ||
            t.rto_min_ns > 3600000000000ull || t.delack_ns > 3600000000000ull ||
            t.rto_init_ns == 0 || t.rto_init_ns > 3600000000000ull || t.dupack_threshold < 1 ||
            t.dupack_threshold > 1000)
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "ns3: tcp settings out of range (init_cwnd %d, rto_min %llu ns, "
                             "delack %llu ns, rto_init %llu ns, dupack_threshold %d)",
                             t.init_cwnd, (unsigned long long)t.rto_min_ns,
                             (unsigned long long)t.delack_ns, (unsigned long long)t.rto_init_ns,
                             t.dupack_threshold);
        std::string cc = s->congestion, rec = s->recovery;
        if (cc != "cubic" && cc != "newreno" && cc != "linux-reno")
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "ns3: congestion control '%s': expected cubic, newreno, linux-reno",
                             s->congestion);
        if (rec != "prr" && rec != "classic")
            return HALO_FAIL(err, HALO_ERR_ARG, "ns3: recovery '%s': expected prr, classic",
                             s->recovery);
        for (int i = 0; i < cfg->n_nodes; i++) {
            int mss = cfg->uplink[i].mtu_bytes - kTcpIpHeader;
            if (s->segment_bytes != 0 && (s->segment_bytes < 64 || s->segment_bytes > mss))
                return HALO_FAIL(err, HALO_ERR_ARG, "ns3: segment of %d bytes not in 64..%d",
                                 s->segment_bytes, mss);
        }
        if (s->sndbuf_bytes < 65536 || s->sndbuf_bytes > (1u << 30) || s->rcvbuf_bytes < 65536 ||
            s->rcvbuf_bytes > (1u << 30) || s->delack_count < 1 || s->delack_count > 1000 ||
            s->tick_ns < 1000 || s->tick_ns > 100000000ull || s->rack_stand_in < 0 ||
            s->rack_stand_in > 1)
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "ns3: socket settings out of range (buffers 64 KiB..1 GiB, "
                             "delack_count 1..1000, tick 1 us..100 ms, rack_stand_in 0 or 1)");
    }
    if (s->queue_packets < 1 || s->queue_packets > 0xffffffffull)
        return HALO_FAIL(err, HALO_ERR_ARG, "ns3: queue of %llu packets out of range",
                         (unsigned long long)s->queue_packets);
    const char *log = std::getenv("NS_LOG"), *gv = std::getenv("NS_GLOBAL_VALUE");
    if ((log && *log) || (gv && *gv))
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "ns3: NS_LOG or NS_GLOBAL_VALUE is set in the environment (ns-3 aborts "
                         "on unknown names there); unset both");
    return HALO_OK;
}

} // namespace

/* ==== C entry points ==== */

extern "C" {

int halo_ns3_available(void) {
    return 1;
}

const char *halo_ns3_version(void) {
    return "3.37";
}

int halo_ns3_new(halo_transport **out, const halo_sim_config *cfg, const halo_ns3_settings *ns3,
                 halo_err *err) {
    if (!out)
        return HALO_FAIL(err, HALO_ERR_ARG, "ns3: no output pointer");
    *out = nullptr;
    halo_ns3_settings def;
    if (!ns3) {
        halo_ns3_settings_linux(&def);
        ns3 = &def;
    }
    int rc = check_cfg(cfg, ns3, err);
    if (rc != HALO_OK)
        return rc;
    for (int i = 0; cfg->pcap_prefix && i < cfg->n_nodes; i++) {
        /* ns-3 aborts the process on a capture file it cannot open: try each one first */
        char path[4200];
        std::snprintf(path, sizeof path, "%s-%d.pcap", cfg->pcap_prefix, i);
        FILE *f = std::fopen(path, "wb");
        if (!f)
            return HALO_FAIL(err, HALO_ERR_IO, "ns3: %s: %s", path, std::strerror(errno));
        std::fclose(f);
    }
    if (g_world)
        return HALO_FAIL(err, HALO_ERR_AGAIN,
                         "ns3: another ns-3 world exists in this process (ns-3 is "
                         "process-global; free it first or use another process)");
    World *w = nullptr;
    try {
        w = new World();
        w->base.ops = &ns3_ops;
        w->settings = *ns3;
        g_world = w;
        w->Build(cfg);
        if (cfg->delivery == HALO_DELIVERY_STREAM && cfg->n_nodes > 1) {
            for (NodeState &ns : w->nodes) {
                ns.up_loss->Disable();
                ns.down_loss->Disable();
            }
            w->ConnectMesh();
            Simulator::Run();
            if (w->connected != w->n * (w->n - 1)) {
                int up = w->connected;
                w_destroy(&w->base);
                return HALO_FAIL(err, HALO_ERR_IO, "ns3: only %d of %d TCP connection ends up", up,
                                 cfg->n_nodes * (cfg->n_nodes - 1));
            }
            for (NodeState &ns : w->nodes) {
                ns.up_loss->Enable();
                ns.down_loss->Enable();
                ns.stats = halo_sim_node_stats{};
            }
            w->t0_ns = Simulator::Now().GetNanoSeconds();
        }
        w->events0 = Simulator::GetEventCount();
    } catch (const std::bad_alloc &) {
        if (w)
            w_destroy(&w->base);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "ns3: out of memory");
    } catch (...) {
        if (w)
            w_destroy(&w->base);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "ns3: building the world failed");
    }
    *out = &w->base;
    return HALO_OK;
}

void halo_ns3_get_stats(halo_transport *t, int node, halo_sim_node_stats *out) {
    std::memset(out, 0, sizeof *out);
    if (!t || t->ops != &ns3_ops)
        return;
    World *w = as_world(t);
    if (node < 0 || node >= w->n)
        return;
    *out = w->nodes[(size_t)node].stats;
}

int halo_ns3_owns(const halo_transport *t) {
    return t && t->ops == &ns3_ops;
}

uint64_t halo_ns3_events(halo_transport *t) {
    if (!t || t->ops != &ns3_ops)
        return 0;
    return Simulator::GetEventCount() - as_world(t)->events0;
}

} /* extern "C" */
