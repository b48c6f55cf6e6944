#include "control/vrrp_track.hpp"

#include <algorithm>

namespace haplane::vrrp {

TrackResult track(uint8_t base_priority, const std::vector<TrackedCheck>& checks,
                  const std::vector<TrackedFile>& files) {
    bool fault = false;
    long delta = 0;
    for (const auto& c : checks) {
        if (c.weight == 0) fault |= !c.healthy;
        else if (c.weight < 0 && !c.healthy) delta += c.weight;
        else if (c.weight > 0 && c.healthy) delta += c.weight;
    }
    for (const auto& f : files) {
        if (f.weight == 0) fault |= f.value != 0;
        else delta += f.value * f.weight;
    }
    if (base_priority == 255) return {255, fault};
    long p = std::clamp<long>(base_priority + delta, 1, 254);
    return {static_cast<uint8_t>(p), fault};
}

bool RiseFall::feed(bool success) {
    if (success == healthy_) {
        streak_ = 0;
        return false;
    }
    if (++streak_ < (healthy_ ? fall_ : rise_)) return false;
    healthy_ = success;
    streak_ = 0;
    return true;
}

} // namespace haplane::vrrp
