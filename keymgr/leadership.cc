#include "keymgr/leadership.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "common/encoding.h"

namespace keymgr {
namespace {
std::string incarnation_of(const std::string& instance_id) {
  auto rnd = random_bytes(6);
  return instance_id + "#" + (rnd.ok() ? hex_encode(*rnd) : std::to_string(getpid()));
}
}  // namespace

std::string instance_of_holder(std::string_view holder) {
  const auto hash = holder.rfind('#');
  return std::string(hash == std::string_view::npos ? holder : holder.substr(0, hash));
}

Leadership::Leadership(db::Store& store, LeadershipOptions opts, Metrics* metrics)
    : store_(store), opts_(std::move(opts)), holder_(incarnation_of(opts_.instance_id)), metrics_(metrics) {}

Leadership::~Leadership() { stop(); }

bool Leadership::step() {
  std::lock_guard step_lk(step_mu_);
  const auto ttl_ms = static_cast<int64_t>(opts_.ttl.count());
  const auto sent = std::chrono::steady_clock::now();
  // This instance is alive (reconcile leaves its in-flight key generations alone).
  const std::string instance_lease = std::string(kInstanceLeasePrefix) + opts_.instance_id;
  auto alive = store_.acquire_lease(instance_lease, holder_, ttl_ms);
  if (!alive.ok() && alive.status().reason() == "lease_held") {
    // A predecessor of this instance (same instance id, an earlier incarnation: it crashed and was
    // restarted) still holds it until it expires. Take it over now: from then on the lease's holder
    // tells reconcile that the predecessor's unfinished generations are dead, while this
    // incarnation's own generations (which all start after this) count as alive.
    auto held = store_.read_lease(instance_lease);
    if (held.ok() && held->has_value() && (*held)->holder != holder_ &&
        instance_of_holder((*held)->holder) == opts_.instance_id) {
      spdlog::info("leadership: taking over the instance lease from the previous incarnation {}", (*held)->holder);
      (void)store_.release_lease(instance_lease, (*held)->holder, (*held)->epoch);
      alive = store_.acquire_lease(instance_lease, holder_, ttl_ms);
    }
  }
  if (!alive.ok() && alive.status().reason() != "lease_held") {
    spdlog::warn("leadership: instance lease not renewed: {}", alive.status().to_string());
  }
  auto got = store_.acquire_lease(kLeaderLease, holder_, ttl_ms);
  bool was = false;
  bool now = false;
  {
    std::lock_guard lk(mu_);
    was = lease_.has_value() && std::chrono::steady_clock::now() < valid_until_;
    if (got.ok()) {
      if (lease_ && lease_->epoch != got->epoch) was = false;  // a new term: report the change
      lease_ = *got;
      valid_until_ = sent + opts_.ttl - opts_.ttl / 10;
      now = true;
    } else {
      lease_.reset();
    }
  }
  if (!got.ok() && got.status().reason() != "lease_held") {
    spdlog::warn("leadership: lease not renewed: {}", got.status().to_string());
  }
  if (was != now) {
    if (now) {
      spdlog::info("leadership: instance {} leads (epoch {})", holder_, got->epoch);
    } else {
      spdlog::warn("leadership: instance {} no longer leads ({})", holder_,
                   got.ok() ? "" : got.status().message());
    }
    if (metrics_) metrics_->inc("keymgr_leadership_changes_total", now ? "to=\"leader\"" : "to=\"follower\"");
    if (on_change_) on_change_(now);
  }
  return now;
}

std::optional<db::Fence> Leadership::fence() const {
  std::lock_guard lk(mu_);
  if (!lease_ || std::chrono::steady_clock::now() >= valid_until_) return std::nullopt;
  return db::Fence{lease_->name, lease_->epoch};
}

void Leadership::report_refusal(const Status& st) {
  spdlog::error("leadership: a write as leader was refused, stepping down: {}", st.to_string());
  if (metrics_) metrics_->inc("keymgr_stale_leader_refusals_total", "");
  std::lock_guard lk(mu_);
  lease_.reset();
}

void Leadership::start() {
  std::lock_guard lk(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Leadership::run() {
  for (;;) {
    step();
    std::unique_lock lk(mu_);
    if (cv_.wait_for(lk, opts_.ttl / 3, [&] { return stopping_; })) return;
  }
}

void Leadership::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::optional<db::Lease> held;
  {
    std::lock_guard lk(mu_);
    held.swap(lease_);
  }
  if (held) (void)store_.release_lease(held->name, held->holder, held->epoch);
}

}  // namespace keymgr
