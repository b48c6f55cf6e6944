#include "control/vrrp_machine.hpp"

#include <fmt/format.h>

namespace haplane::vrrp {

using namespace std::chrono_literals;

const char* to_string(State s) {
    switch (s) {
    case State::INIT: return "INIT";
    case State::BACKUP: return "BACKUP";
    case State::MASTER: return "MASTER";
    case State::FAULT: return "FAULT";
    }
    return "?";
}

Duration skew_time(uint8_t version, uint8_t priority, Duration master_adver_interval) {
    if (version == 2) return Duration(std::chrono::seconds(256 - priority)) / 256;
    return (256 - priority) * master_adver_interval / 256;
}

Duration master_down_interval(uint8_t version, uint8_t priority, Duration master_adver_interval) {
    return 3 * master_adver_interval + skew_time(version, priority, master_adver_interval);
}

Machine::Machine(MachineConfig config, Hooks& hooks)
    : config_(std::move(config)), hooks_(hooks), priority_(config_.priority),
      master_adver_interval_(config_.advert_interval) {}

void Machine::log(const std::string& text) { hooks_.log("(" + config_.name + ") " + text); }

void Machine::change_state(State to) {
    State from = state_;
    if (from == to) return;
    state_ = to;
    ++transitions_;
    if (to == State::MASTER) ++became_master_;
    log(fmt::format("Entering {} STATE", to_string(to)));
    hooks_.state_changed(from, to);
}

void Machine::arm_master_down(TimePoint now) {
    master_down_timer_ = now + master_down_interval(config_.version, priority_, master_adver_interval_);
}

// RFC 5798 §6.4.1: the owner becomes MASTER at once; everyone else waits
// as BACKUP for a master to speak. keepalived's `state MASTER` only shortens
// that first wait to one interval plus skew.
void Machine::start(TimePoint now) {
    started_ = now;
    if (priority_ == PRIORITY_OWNER) {
        become_master(now);
        return;
    }
    become_backup(now);
    if (config_.wants_master)
        master_down_timer_ = now + master_adver_interval_ + skew_time(config_.version, priority_, master_adver_interval_);
}

void Machine::shutdown(TimePoint) {
    if (state_ == State::MASTER) {
        hooks_.send_advert(PRIORITY_STOP);
        log("sent 0 priority");
    }
    adver_timer_.reset();
    master_down_timer_.reset();
    change_state(State::INIT);
}

void Machine::become_master(TimePoint now) {
    master_down_timer_.reset();
    last_accepted_advert_.reset();
    lower_master_seen_.reset();
    master_adver_interval_ = config_.advert_interval;
    // The advert goes first, then the owner's GARPs (state_changed), §6.4.1.
    hooks_.send_advert(priority_);
    adver_timer_ = now + config_.advert_interval;
    master_ip_ = config_.primary_ip;
    change_state(State::MASTER);
}

void Machine::become_backup(TimePoint now) {
    adver_timer_.reset();
    if (config_.version == 2) master_adver_interval_ = config_.advert_interval;
    arm_master_down(now);
    change_state(State::BACKUP);
}

void Machine::force_backup(TimePoint now) {
    if (state_ != State::MASTER) return;
    hooks_.send_advert(PRIORITY_STOP);
    log("sent 0 priority");
    become_backup(now);
}

void Machine::force_master(TimePoint now) {
    if (state_ == State::BACKUP) become_master(now);
}

// §6.4.3: higher priority, or equal priority from a higher primary address.
bool Machine::sender_wins(const IpAddress& source, uint8_t priority) const {
    if (priority != priority_) return priority > priority_;
    return source > config_.primary_ip;
}

// preempt_delay (keepalived): a lower-priority master is tolerated for this
// long after start-up and after it was first seen.
bool Machine::may_preempt(TimePoint now) {
    if (!config_.preempt) return false;
    if (config_.preempt_delay == Duration::zero()) return true;
    if (!lower_master_seen_) lower_master_seen_ = now;
    return now >= started_ + config_.preempt_delay && now >= *lower_master_seen_ + config_.preempt_delay;
}

void Machine::on_advert(TimePoint now, const IpAddress& source, uint8_t priority, Duration interval) {
    switch (state_) {
    case State::INIT:
    case State::FAULT:
        return;
    case State::BACKUP:
        if (priority == PRIORITY_STOP) {
            log("Backup received priority 0 advertisement");
            master_down_timer_ = now + skew_time(config_.version, priority_, master_adver_interval_);
            return;
        }
        if (priority >= priority_ || !may_preempt(now)) {
            if (priority >= priority_) lower_master_seen_.reset();
            if (config_.version == 3) master_adver_interval_ = interval;
            master_ip_ = source;
            last_accepted_advert_ = now;
            arm_master_down(now);
        }
        // else: a lower-priority master we may preempt: let the timer run out.
        return;
    case State::MASTER:
        if (priority == PRIORITY_STOP) {
            hooks_.send_advert(priority_);
            adver_timer_ = now + config_.advert_interval;
            return;
        }
        if (sender_wins(source, priority)) {
            log(fmt::format("Master received advert from {} with higher priority {}, ours {}", source.str(),
                            priority, priority_));
            if (config_.version == 3) master_adver_interval_ = interval;
            master_ip_ = source;
            become_backup(now);
            return;
        }
        log(fmt::format("Received advert from {} with lower priority {}, ours {}, forcing new election",
                        source.str(), priority, priority_));
        hooks_.send_advert(priority_);
        adver_timer_ = now + config_.advert_interval;
        return;
    }
}

void Machine::on_timer(TimePoint now) {
    if (state_ == State::MASTER && adver_timer_ && now >= *adver_timer_) {
        hooks_.send_advert(priority_);
        adver_timer_ = *adver_timer_ + config_.advert_interval;
        if (*adver_timer_ <= now) adver_timer_ = now + config_.advert_interval;   // we were late
    }
    if (state_ == State::BACKUP && master_down_timer_ && now >= *master_down_timer_) {
        if (hooks_.may_become_master()) become_master(now);
        else arm_master_down(now);   // held back by a sync group member; look again later
    }
}

bool Machine::has_live_master(TimePoint now) const {
    return state_ == State::BACKUP && last_accepted_advert_ &&
           now < *last_accepted_advert_ + master_down_interval(config_.version, priority_, master_adver_interval_);
}

void Machine::set_fault(TimePoint now, bool fault) {
    if (fault) {
        if (state_ == State::FAULT) return;
        if (state_ == State::MASTER) {
            hooks_.send_advert(PRIORITY_STOP);
            log("sent 0 priority");
        }
        adver_timer_.reset();
        master_down_timer_.reset();
        master_ip_.reset();
        change_state(State::FAULT);
        return;
    }
    if (state_ != State::FAULT) return;
    master_adver_interval_ = config_.advert_interval;
    if (priority_ == PRIORITY_OWNER) become_master(now);
    else become_backup(now);
}

void Machine::set_effective_priority(TimePoint now, uint8_t priority) {
    if (priority == priority_) return;
    log(fmt::format("Changing effective priority from {} to {}", priority_, priority));
    priority_ = priority;
    if (state_ == State::MASTER) {
        hooks_.send_advert(priority_);
        adver_timer_ = now + config_.advert_interval;
    }
}

std::optional<TimePoint> Machine::next_deadline() const {
    if (state_ == State::MASTER) return adver_timer_;
    if (state_ == State::BACKUP) return master_down_timer_;
    return std::nullopt;
}

} // namespace haplane::vrrp
