// One VRRP virtual router's state machine, RFC 5798 §6.4 (and RFC 3768 for
// v2 timing). Pure: the clock is injected (every event carries `now`), the
// outside world is reached through Hooks, and the owner arms one timer at
// next_deadline(). What the operator configured (MachineConfig) stays apart
// from what the protocol computed (the runtime members).
#pragma once

#include "config/address.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace haplane::vrrp {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = std::chrono::nanoseconds;

enum class State : uint8_t { INIT, BACKUP, MASTER, FAULT };
const char* to_string(State s);

constexpr uint8_t PRIORITY_OWNER = 255;
constexpr uint8_t PRIORITY_STOP = 0;

struct MachineConfig {
    std::string name;                 // "VI_1": prefixes every log line
    uint8_t version = 3;
    uint8_t priority = 100;           // configured (base) priority
    Duration advert_interval = std::chrono::seconds(1);
    bool preempt = true;
    Duration preempt_delay = Duration::zero();
    bool wants_master = false;        // `state: MASTER`: claim sooner at start-up
    IpAddress primary_ip;             // ours: the tie-breaker and the advert source
};

// RFC 5798 §6.1 terms. v3: Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256;
// v2 (RFC 3768): Skew_Time = (256 - Priority) / 256 seconds.
Duration skew_time(uint8_t version, uint8_t priority, Duration master_adver_interval);
// Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time
Duration master_down_interval(uint8_t version, uint8_t priority, Duration master_adver_interval);

class Machine {
public:
    struct Hooks {
        virtual ~Hooks() = default;
        virtual void send_advert(uint8_t priority) = 0;
        // After the state changed: VIPs, GARPs, notify scripts hang here.
        virtual void state_changed(State from, State to) = 0;
        // One line in keepalived's wording, already prefixed "(NAME) ".
        virtual void log(const std::string& line) = 0;
        // Sync groups: may this BACKUP take over now that its master is
        // silent? (No, while another member still hears a live master.)
        virtual bool may_become_master() { return true; }
    };

    Machine(MachineConfig config, Hooks& hooks);

    void start(TimePoint now);
    // Graceful stop: a MASTER sends priority 0 first (RFC 5798 §6.4.3).
    void shutdown(TimePoint now);
    // An advert that passed the receive checks. `interval` is its Max Adver
    // Interval (v3) or Adver Int (v2).
    void on_advert(TimePoint now, const IpAddress& source, uint8_t priority, Duration interval);
    // Call when now >= next_deadline().
    void on_timer(TimePoint now);
    // Tracking says the instance cannot work (weight-0 track failed) or can again.
    void set_fault(TimePoint now, bool fault);
    // Priority after tracking (1..254; 255 only for the owner). A MASTER
    // advertises the change at once.
    void set_effective_priority(TimePoint now, uint8_t priority);
    // Sync groups: follow a member to BACKUP (a MASTER resigns with priority
    // 0 so the peer's member takes over at once) or to MASTER (a BACKUP
    // claims at once, as if its master-down timer had fired).
    void force_backup(TimePoint now);
    void force_master(TimePoint now);

    std::optional<TimePoint> next_deadline() const;
    // BACKUP and still hearing a master it accepts (within Master_Down_Interval).
    bool has_live_master(TimePoint now) const;
    State state() const { return state_; }
    uint8_t effective_priority() const { return priority_; }
    const MachineConfig& config() const { return config_; }
    std::optional<IpAddress> master_ip() const { return master_ip_; }
    Duration master_adver_interval() const { return master_adver_interval_; }
    uint64_t transitions() const { return transitions_; }
    uint64_t became_master() const { return became_master_; }

private:
    void become_master(TimePoint now);
    void become_backup(TimePoint now);
    void change_state(State to);
    void arm_master_down(TimePoint now);
    bool may_preempt(TimePoint now);
    bool sender_wins(const IpAddress& source, uint8_t priority) const;
    void log(const std::string& text);

    MachineConfig config_;
    Hooks& hooks_;
    State state_ = State::INIT;
    uint8_t priority_;
    Duration master_adver_interval_;
    std::optional<TimePoint> adver_timer_;
    std::optional<TimePoint> master_down_timer_;
    TimePoint started_{};
    std::optional<TimePoint> lower_master_seen_;   // preempt_delay runs from here
    std::optional<IpAddress> master_ip_;
    std::optional<TimePoint> last_accepted_advert_;
    uint64_t transitions_ = 0;
    uint64_t became_master_ = 0;
};

} // namespace haplane::vrrp
