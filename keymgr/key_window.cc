#include "keymgr/key_window.h"

#include <algorithm>

namespace keymgr {

TimePoint whole_second(TimePoint t) { return from_unix_seconds(to_unix_seconds(t)); }

TimePoint end_of_second(TimePoint now) { return from_unix_seconds(to_unix_seconds(now) + 1); }

void set_window(Key& k, TimePoint activate_at, const Policy& p) {
  k.activate_at = whole_second(activate_at);
  k.deactivate_at = k.activate_at + p.sign_period;
  k.retire_at = k.deactivate_at + p.verify_grace;
  k.destroy_at = k.retire_at + p.destroy_after;
}

void end_window(Key& k, TimePoint end, const Policy& p) {
  k.deactivate_at = std::min(k.deactivate_at, end);
  k.retire_at = std::max(k.deactivate_at + p.verify_grace, std::min(k.retire_at, end + p.verify_grace));
  k.destroy_at = k.retire_at + p.destroy_after;
}

void collapse_window(Key& k, TimePoint at, const Policy& p) {
  at = whole_second(at);
  k.activate_at = std::min(k.activate_at, at);
  k.deactivate_at = std::min(k.deactivate_at, at);
  k.retire_at = at;
  k.destroy_at = at + p.destroy_after;
}

}  // namespace keymgr
