// VRRP tracking arithmetic (keepalived's track_script / track_interface /
// track_file), pure: what each tracked thing says in, the effective priority
// and whether the instance must be in FAULT out.
#pragma once

#include <cstdint>
#include <vector>

namespace haplane::vrrp {

// A script or a port: healthy (script succeeded / link up) or not.
struct TrackedCheck {
    int weight = 0;     // 0: failure means FAULT; < 0: subtracted on failure; > 0: added on success
    bool healthy = true;
};

// A tracked file: the integer it holds times the weight is added; with
// weight 0, any non-zero value means FAULT. A missing file holds 0.
struct TrackedFile {
    int weight = 1;
    long value = 0;
};

struct TrackResult {
    uint8_t priority;
    bool fault;
};

// Effective priority, clamped to 1..254: tracking never makes an instance
// the address owner (255) nor takes an owner below it.
TrackResult track(uint8_t base_priority, const std::vector<TrackedCheck>& checks,
                  const std::vector<TrackedFile>& files);

// rise/fall: consecutive results needed before a script's state flips.
class RiseFall {
public:
    RiseFall(unsigned rise, unsigned fall, bool initially_healthy = true)
        : rise_(rise ? rise : 1), fall_(fall ? fall : 1), healthy_(initially_healthy) {}
    // Feed one result; returns true when the state changed.
    bool feed(bool success);
    bool healthy() const { return healthy_; }

private:
    unsigned rise_, fall_;
    bool healthy_;
    unsigned streak_ = 0;   // consecutive results against the current state
};

} // namespace haplane::vrrp
