#include "dataplane/dataplane.hpp"

#include "config/loader.hpp"
#include "dataplane/eal_args.hpp"
#include "dataplane/worker.hpp"

#include <rte_bus_vdev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>
#include <sys/eventfd.h>
#include <unistd.h>

namespace haplane::dataplane {

namespace {

constexpr uint16_t RX_DESC = 1024;
constexpr uint16_t TX_DESC = 1024;
constexpr unsigned RING_SIZE = 1024;
constexpr unsigned HANDOFF_RING_SIZE = 1024;   // per worker, several workers only

[[noreturn]] void fail(const std::string& what, int err) {
    throw std::runtime_error(what + ": " + rte_strerror(err < 0 ? -err : err));
}


// EAL is process-wide: initialised by the first Dataplane, cleaned up by it.
class Eal {
public:
    explicit Eal(const std::vector<std::string>& args) {
        std::vector<std::string> copy = args;   // EAL may permute argv
        std::vector<char*> argv;
        for (auto& a : copy) argv.push_back(a.data());
        argv.push_back(nullptr);
        if (rte_eal_init(static_cast<int>(copy.size()), argv.data()) < 0)
            fail("DPDK EAL initialisation failed", rte_errno);
    }
    ~Eal() { rte_eal_cleanup(); }
    Eal(const Eal&) = delete;
    Eal& operator=(const Eal&) = delete;
};

struct MempoolDeleter { void operator()(rte_mempool* p) const { rte_mempool_free(p); } };
struct RingDeleter { void operator()(rte_ring* r) const { rte_ring_free(r); } };
struct RcuDeleter { void operator()(rte_rcu_qsbr* v) const { rte_free(v); } };

// An ethdev haplane started: stopped, closed (and its vdev removed) on exit.
class EthPort {
public:
    EthPort(uint16_t id, std::string vdev_name) : id_(id), vdev_name_(std::move(vdev_name)) {}
    ~EthPort() {
        if (id_ == NO_PORT) return;
        if (started_) rte_eth_dev_stop(id_);
        if (!vdev_name_.empty()) rte_vdev_uninit(vdev_name_.c_str());
        else rte_eth_dev_close(id_);
    }
    EthPort(const EthPort&) = delete;
    EthPort& operator=(const EthPort&) = delete;

    uint16_t id() const { return id_; }

    void start(const std::string& label, unsigned queues, rte_mempool* pool) {
        rte_eth_dev_info info;
        int rc = rte_eth_dev_info_get(id_, &info);
        if (rc != 0) fail(label + ": cannot read device info", rc);
        if (info.max_rx_queues < queues || info.max_tx_queues < queues)
            throw std::runtime_error(label + ": device supports " + std::to_string(info.max_rx_queues) +
                                     " queues, haplane needs one per worker (" +
                                     std::to_string(queues) + ")");
        rte_eth_conf conf{};
        if (queues > 1 && info.flow_type_rss_offloads) {
            conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
            conf.rx_adv_conf.rss_conf.rss_hf &= info.flow_type_rss_offloads;
        }
        rc = rte_eth_dev_configure(id_, static_cast<uint16_t>(queues), static_cast<uint16_t>(queues), &conf);
        if (rc != 0) fail(label + ": configure failed", rc);
        uint16_t rxd = RX_DESC, txd = TX_DESC;
        rte_eth_dev_adjust_nb_rx_tx_desc(id_, &rxd, &txd);
        int socket = rte_eth_dev_socket_id(id_);
        for (uint16_t q = 0; q < queues; ++q) {
            rc = rte_eth_rx_queue_setup(id_, q, rxd, socket < 0 ? 0 : socket, nullptr, pool);
            if (rc != 0) fail(label + ": RX queue setup failed", rc);
            rc = rte_eth_tx_queue_setup(id_, q, txd, socket < 0 ? 0 : socket, nullptr);
            if (rc != 0) fail(label + ": TX queue setup failed", rc);
        }
        rc = rte_eth_dev_start(id_);
        if (rc != 0) fail(label + ": start failed", rc);
        started_ = true;
        rte_eth_dev_set_link_up(id_);   // not every PMD has it; the link may already be up
    }

    wire::Mac mac() const {
        rte_ether_addr a;
        rte_eth_macaddr_get(id_, &a);
        wire::Mac m;
        std::memcpy(m.data(), a.addr_bytes, 6);
        return m;
    }

private:
    uint16_t id_;
    std::string vdev_name_;   // non-empty: created with rte_vdev_init
    bool started_ = false;
};

uint16_t port_id_by_name(const std::string& name) {
    uint16_t id;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0) return NO_PORT;
    return id;
}

} // namespace

struct Dataplane::Impl {
    config::PollMode poll;
    std::vector<unsigned> worker_lcores;
    std::unique_ptr<Eal> eal;
    std::unique_ptr<rte_mempool, MempoolDeleter> pool;   // the control thread's socket
    std::map<int, std::unique_ptr<rte_mempool, MempoolDeleter>> socket_pools;   // ports on other sockets
    unsigned pool_size = 0;

    // Each port's RX buffers come from memory on its own NUMA socket.
    rte_mempool* pool_for(int socket) {
        if (socket < 0 || socket == static_cast<int>(rte_socket_id())) return pool.get();
        auto& p = socket_pools[socket];
        if (!p) {
            std::string name = "haplane_mbufs_s" + std::to_string(socket);
            p.reset(rte_pktmbuf_pool_create(name.c_str(), pool_size, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket));
            if (!p) fail("cannot create the mbuf pool on socket " + std::to_string(socket), rte_errno);
        }
        return p.get();
    }
    std::vector<std::unique_ptr<EthPort>> eth_ports;   // ports then TAPs; closed in reverse
    std::vector<std::unique_ptr<rte_ring, RingDeleter>> rings;
    std::unique_ptr<rte_ring, RingDeleter> to_control;
    std::vector<std::unique_ptr<rte_ring, RingDeleter>> handoff_rings;   // [worker]; several workers only
    std::vector<rte_ring*> handoff;                                      // the same, for the workers
    int event_fd = -1;
    std::vector<PortInfo> infos;
    std::vector<PortRuntime> runtime;
    std::unique_ptr<rte_rcu_qsbr, RcuDeleter> rcu;
    std::unique_ptr<const AddressTable> table_owner;   // the published table
    // Replaced tables, freed once every worker has passed a quiescent state
    // since (checked without waiting: the control thread never spins on it).
    struct Retired {
        uint64_t token;
        std::unique_ptr<const AddressTable> table;
    };
    std::vector<Retired> retired;

    void reclaim() {
        std::erase_if(retired, [this](const Retired& r) { return rte_rcu_qsbr_check(rcu.get(), r.token, false) == 1; });
    }
    std::atomic<const AddressTable*> table{nullptr};
    std::vector<std::vector<PortCounters>> counters;   // [worker][port]
    std::vector<WorkerContext> contexts;
    std::atomic<bool> quit{false};
    bool running = false;

    ~Impl() {
        if (event_fd >= 0) close(event_fd);
        // Rings and mbufs go back before the ports and the pool they came from.
        drain_rings();
    }

    void drain_rings() {
        void* m;
        for (auto& r : rings)
            while (rte_ring_dequeue(r.get(), &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
        for (auto& r : handoff_rings)
            while (rte_ring_dequeue(r.get(), &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
        if (to_control)
            while (rte_ring_dequeue(to_control.get(), &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    }
};

Dataplane::Dataplane(const config::Config& config, const std::vector<std::string>& extra_eal_args,
                     bool detailed_logs)
    : impl_(std::make_unique<Impl>()) {
    Impl& d = *impl_;
    d.poll = config.global.dpdk.poll;
    auto lcores = config::parse_lcore_list(config.global.dpdk.lcores);
    if (!lcores || lcores->size() < 2)
        throw std::runtime_error("global.dpdk.lcores must name at least two lcores (control + worker)");

    d.eal = std::make_unique<Eal>(eal_arguments(config, extra_eal_args, detailed_logs));
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) d.worker_lcores.push_back(lcore);
    if (d.worker_lcores.empty()) throw std::runtime_error("EAL gave haplane no worker lcore");
    const unsigned workers = static_cast<unsigned>(d.worker_lcores.size());

    // Enough mbufs for every descriptor of every queue, the per-lcore caches
    // and the rings, with room to spare.
    const unsigned queues_total = static_cast<unsigned>(config.ports.size()) * 2 * workers;
    unsigned n_mbufs = queues_total * (RX_DESC + TX_DESC) + (workers + 1) * 512 +
                       RING_SIZE * (static_cast<unsigned>(config.ports.size()) + 1) + 4096 +
                       (workers > 1 ? workers * HANDOFF_RING_SIZE : 0);
    unsigned pow2 = 1;
    while (pow2 < n_mbufs + 1) pow2 <<= 1;
    d.pool_size = pow2 - 1;
    d.pool.reset(rte_pktmbuf_pool_create("haplane_mbufs", d.pool_size, 256, 0,
                                         RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id())));
    if (!d.pool) fail("cannot create the mbuf pool", rte_errno);

    d.event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (d.event_fd < 0) throw std::runtime_error("eventfd failed");
    d.to_control.reset(rte_ring_create("haplane_to_ctl", RING_SIZE, static_cast<int>(rte_socket_id()),
                                       RING_F_SC_DEQ));
    if (!d.to_control) fail("cannot create the control ring", rte_errno);
    size_t rcu_size = rte_rcu_qsbr_get_memsize(workers);
    d.rcu.reset(static_cast<rte_rcu_qsbr*>(rte_zmalloc("haplane_rcu", rcu_size, RTE_CACHE_LINE_SIZE)));
    if (!d.rcu || rte_rcu_qsbr_init(d.rcu.get(), workers) != 0) fail("cannot set up RCU", rte_errno);
    auto table = std::make_unique<AddressTable>();

    for (size_t i = 0; i < config.ports.size(); ++i) {
        const config::Port& port = config.ports[i];
        const std::string label = "port " + port.name + " (" + port.device + ")";
        PortInfo info;
        info.name = port.name;
        info.device = device_name(port);
        std::string vdev;
        if (!port.is_pci()) {
            vdev = info.device;
            int rc = rte_vdev_init(vdev.c_str(), vdev_arguments(port, workers).c_str());
            if (rc != 0) fail(label + ": cannot create the device", rc);
        }
        uint16_t id = port_id_by_name(info.device);
        if (id == NO_PORT) {
            if (!vdev.empty()) rte_vdev_uninit(vdev.c_str());
            throw std::runtime_error(label + ": no such DPDK device (bound to a DPDK driver?)");
        }
        d.eth_ports.push_back(std::make_unique<EthPort>(id, vdev));
        d.eth_ports.back()->start(label, workers, d.pool_for(rte_eth_dev_socket_id(id)));
        info.mac = d.eth_ports.back()->mac();

        PortRuntime rt;
        rt.port_id = id;
        PortAddresses own;
        own.mac = info.mac;
        for (const auto& a : port.addresses) {
            if (a.address.is_v4()) own.v4.push_back(a.address.v4_net());
            else own.v6.push_back(a.address.bytes);
        }
        own.v6.push_back(link_local_from_mac(info.mac));
        table->ports.push_back(std::move(own));

        if (port.kernel_mirror) {
            // The TAP wears the port's MAC, so the kernel's frames need no rewrite.
            std::string tap_vdev = "net_tap_" + port.name;
            std::string args = "iface=" + *port.kernel_mirror + ",mac=" + mac_to_string(info.mac);
            int rc = rte_vdev_init(tap_vdev.c_str(), args.c_str());
            if (rc != 0) fail(label + ": cannot create kernel mirror " + *port.kernel_mirror, rc);
            uint16_t tap_id = port_id_by_name(tap_vdev);
            if (tap_id == NO_PORT) throw std::runtime_error(label + ": kernel mirror did not appear");
            d.eth_ports.push_back(std::make_unique<EthPort>(tap_id, tap_vdev));
            d.eth_ports.back()->start("kernel mirror " + *port.kernel_mirror, workers, d.pool.get());
            rt.tap_id = tap_id;
            info.kernel_mirror = port.kernel_mirror;
        }

        std::string ring_name = "haplane_tx" + std::to_string(i);
        d.rings.emplace_back(rte_ring_create(ring_name.c_str(), RING_SIZE, static_cast<int>(rte_socket_id()),
                                             RING_F_SP_ENQ | RING_F_SC_DEQ));
        if (!d.rings.back()) fail("cannot create ring " + ring_name, rte_errno);
        rt.control_tx = d.rings.back().get();

        d.infos.push_back(std::move(info));
        d.runtime.push_back(std::move(rt));
    }

    d.table = table.get();
    d.table_owner = std::move(table);

    d.counters.resize(workers);
    for (auto& per_worker : d.counters) per_worker = std::vector<PortCounters>(config.ports.size());
    d.contexts.resize(workers);
    for (unsigned w = 0; w < workers; ++w) {
        WorkerContext& c = d.contexts[w];
        c.queue = w;
        c.ports = &d.runtime;
        c.table = &d.table;
        c.rcu = d.rcu.get();
        c.counters = d.counters[w].data();
        c.quit = &d.quit;
        c.poll = d.poll;
        c.to_control = d.to_control.get();
        c.to_control_event_fd = d.event_fd;
    }
}

Dataplane::~Dataplane() {
    stop_workers();
    // Impl's members then go in reverse order of declaration: rings are
    // drained, ports closed, the pool freed, and EAL cleaned up last.
}

void Dataplane::start_workers() {
    Impl& d = *impl_;
    if (d.running) return;
    d.quit = false;
    for (size_t w = 0; w < d.worker_lcores.size(); ++w) {
        int rc = rte_eal_remote_launch(worker_main, &d.contexts[w], d.worker_lcores[w]);
        if (rc != 0) fail("cannot launch worker on lcore " + std::to_string(d.worker_lcores[w]), rc);
    }
    d.running = true;
}

void Dataplane::stop_workers() {
    Impl& d = *impl_;
    if (!d.running) return;
    d.quit = true;
    rte_eal_mp_wait_lcore();
    d.running = false;
}

const std::vector<PortInfo>& Dataplane::ports() const { return impl_->infos; }

unsigned Dataplane::worker_count() const { return static_cast<unsigned>(impl_->worker_lcores.size()); }

PortStats Dataplane::port_stats(size_t port_index) const {
    PortStats s;
    for (const auto& per_worker : impl_->counters) s.accumulate(per_worker.at(port_index));
    return s;
}

void Dataplane::clear_stats() {
    // Only the writers may reset their counters race-free; with workers
    // stopped (tests), clearing here is exact.
    for (auto& per_worker : impl_->counters)
        for (auto& c : per_worker) {
            for (Counter* k : {&c.rx_packets, &c.rx_bytes, &c.tx_packets, &c.tx_bytes, &c.rx_dropped,
                               &c.tx_dropped, &c.from_kernel, &c.to_kernel_dropped})
                k->clear();
            for (auto& k : c.verdicts) k.clear();
            for (auto& k : c.malformed) k.clear();
        }
}

bool Dataplane::link_up(size_t port_index) const {
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(impl_->runtime.at(port_index).port_id, &link) != 0) return false;
    return link.link_status == RTE_ETH_LINK_UP;
}

void Dataplane::set_vips(size_t port_index, const std::vector<Vip>& vips) {
    Impl& d = *impl_;
    auto next = std::make_unique<AddressTable>(*d.table_owner);
    PortAddresses& port = next->ports.at(port_index);
    port.vip4.clear();
    port.vip6.clear();
    for (const auto& v : vips) {
        if (v.address.is_v4()) port.vip4.push_back({v.address.v4_net(), v.mac});
        else port.vip6.push_back({v.address.bytes, v.mac});
    }
    d.table.store(next.get(), std::memory_order_release);
    // Workers report quiescence every round (or are offline while asleep);
    // the old table goes once they all have, looked at on the next change.
    d.retired.push_back({rte_rcu_qsbr_start(d.rcu.get()), std::move(d.table_owner)});
    d.table_owner = std::move(next);
    d.reclaim();
}

void Dataplane::set_forwarders(const std::vector<Forwarder*>& forwarders) {
    Impl& d = *impl_;
    if (d.running) throw std::logic_error("set_forwarders after the workers started");
    for (size_t w = 0; w < d.contexts.size(); ++w) d.contexts[w].lb = w < forwarders.size() ? forwarders[w] : nullptr;
    const unsigned workers = static_cast<unsigned>(d.contexts.size());
    if (workers < 2 || forwarders.empty()) return;

    // Several workers: a packet RSS put on the wrong worker's queue is
    // handed to its flow's owner through the owner's ring (lb/steer.hpp).
    rte_mbuf_dynfield field{};
    std::snprintf(field.name, sizeof field.name, "haplane_handoff");
    field.size = sizeof(HandoffMeta);
    field.align = alignof(HandoffMeta);
    const int offset = rte_mbuf_dynfield_register(&field);
    if (offset < 0) fail("cannot register the mbuf handoff field", rte_errno);
    if (d.handoff_rings.empty()) {
        for (unsigned w = 0; w < workers; ++w) {
            const std::string name = "haplane_handoff" + std::to_string(w);
            d.handoff_rings.emplace_back(rte_ring_create(name.c_str(), HANDOFF_RING_SIZE,
                                                         static_cast<int>(rte_socket_id()), RING_F_SC_DEQ));
            if (!d.handoff_rings.back()) fail("cannot create ring " + name, rte_errno);
            d.handoff.push_back(d.handoff_rings.back().get());
        }
    }
    for (auto& c : d.contexts) {
        c.handoff = c.lb ? d.handoff.data() : nullptr;
        c.workers = workers;
        c.handoff_field = offset;
    }
}

void Dataplane::set_lb_addresses(size_t port_index, const std::vector<IpAddress>& addresses) {
    Impl& d = *impl_;
    auto next = std::make_unique<AddressTable>(*d.table_owner);
    PortAddresses& port = next->ports.at(port_index);
    port.lb4.clear();
    port.lb6.clear();
    for (const auto& a : addresses) {
        if (a.is_v4()) port.lb4.push_back(a.v4_net());
        else port.lb6.push_back(a.bytes);
    }
    d.table.store(next.get(), std::memory_order_release);
    rte_rcu_qsbr_synchronize(d.rcu.get(), RTE_QSBR_THRID_INVALID);
    d.table_owner = std::move(next);
}

void Dataplane::synchronize() { rte_rcu_qsbr_synchronize(impl_->rcu.get(), RTE_QSBR_THRID_INVALID); }

void Dataplane::listen_on_mac(size_t port_index, const wire::Mac& mac) {
    rte_ether_addr addr;
    std::memcpy(addr.addr_bytes, mac.data(), 6);
    uint16_t id = impl_->runtime.at(port_index).port_id;
    int rc = rte_eth_dev_mac_addr_add(id, &addr, 0);
    if (rc != 0 && rc != -EEXIST) rte_eth_promiscuous_enable(id);
}

bool Dataplane::send_frame(size_t port_index, const uint8_t* frame, size_t len) {
    Impl& d = *impl_;
    rte_mbuf* m = rte_pktmbuf_alloc(d.pool.get());
    if (!m) return false;
    char* dst = rte_pktmbuf_append(m, static_cast<uint16_t>(len));
    if (!dst) { rte_pktmbuf_free(m); return false; }
    std::memcpy(dst, frame, len);
    if (rte_ring_enqueue(d.runtime.at(port_index).control_tx, m) != 0) {
        rte_pktmbuf_free(m);
        return false;
    }
    return true;
}

size_t Dataplane::drain_control_frames(FrameHandler handler, void* ctx) {
    Impl& d = *impl_;
    uint64_t ignored;
    [[maybe_unused]] ssize_t r = read(d.event_fd, &ignored, sizeof ignored);
    rte_mbuf* bufs[BURST];
    size_t total = 0;
    unsigned n;
    while ((n = rte_ring_dequeue_burst(d.to_control.get(), reinterpret_cast<void**>(bufs), BURST, nullptr)) > 0) {
        for (unsigned i = 0; i < n; ++i) {
            size_t index = 0;
            while (index < d.runtime.size() && d.runtime[index].port_id != bufs[i]->port) ++index;
            if (index < d.runtime.size() && handler)
                handler(ctx, index, rte_pktmbuf_mtod(bufs[i], const uint8_t*), rte_pktmbuf_data_len(bufs[i]));
        }
        rte_pktmbuf_free_bulk(bufs, n);
        total += n;
    }
    return total;
}

bool Dataplane::control_tx_idle() const {
    for (const auto& r : impl_->rings)
        if (!rte_ring_empty(r.get())) return false;
    return true;
}

int Dataplane::control_event_fd() const { return impl_->event_fd; }

PortStats PortStats::since(const PortStats& b) const {
    PortStats d = *this;
    auto sub = [](uint64_t& x, uint64_t y) { x = x >= y ? x - y : 0; };
    sub(d.rx_packets, b.rx_packets);
    sub(d.rx_bytes, b.rx_bytes);
    sub(d.tx_packets, b.tx_packets);
    sub(d.tx_bytes, b.tx_bytes);
    sub(d.rx_dropped, b.rx_dropped);
    sub(d.tx_dropped, b.tx_dropped);
    sub(d.from_kernel, b.from_kernel);
    sub(d.to_kernel_dropped, b.to_kernel_dropped);
    for (size_t i = 0; i < d.verdicts.size(); ++i) sub(d.verdicts[i], b.verdicts[i]);
    for (size_t i = 0; i < d.malformed.size(); ++i) sub(d.malformed[i], b.malformed[i]);
    return d;
}

void PortStats::accumulate(const PortCounters& c) {
    rx_packets += c.rx_packets.get();
    rx_bytes += c.rx_bytes.get();
    tx_packets += c.tx_packets.get();
    tx_bytes += c.tx_bytes.get();
    rx_dropped += c.rx_dropped.get();
    tx_dropped += c.tx_dropped.get();
    from_kernel += c.from_kernel.get();
    to_kernel_dropped += c.to_kernel_dropped.get();
    for (size_t i = 0; i < verdicts.size(); ++i) verdicts[i] += c.verdicts[i].get();
    for (size_t i = 0; i < malformed.size(); ++i) malformed[i] += c.malformed[i].get();
}

} // namespace haplane::dataplane
