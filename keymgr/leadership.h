// Which instance acts. Several keymgr instances may serve one database; exactly one of them — the
// holder of the database lease `lease` — runs the scheduler (rotations, destruction), reconcile
// and the ledger integrator, and every write those make carries fence(): a former leader that lost
// the lease (paused past it, partitioned away) writes nothing, even before it notices
// (db/store.h, "leases and fencing").
//
// Timing: the leader renews every ttl/3 and a follower tries to take the lease every ttl/3, so a
// dead or hung leader is replaced within ttl + ttl/3. A leader stops calling itself leader at the
// moment it sent its last successful renewal + ttl - ttl/10 by its own steady clock, i.e. before
// the database's clock lets another instance in (as long as the two clocks run at about the same
// rate); the fence check in the database holds even when they do not.
//
// Every instance also holds its own lease "instance:<id>" (same ttl): it tells reconcile which key
// generations are still in flight on a live instance (keymgr/reconcile.cc).
//
// Thread-safety: all methods may be called from any thread; start()/stop() from the owner.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/metrics.h"
#include "db/store.h"

namespace keymgr {

inline constexpr std::string_view kLeaderLease = "keymgr-leader";
inline constexpr std::string_view kInstanceLeasePrefix = "instance:";

// The instance id of a lease holder name ("<instance_id>#<incarnation>"); a name without '#' is
// taken whole (intents written before incarnations were recorded).
std::string instance_of_holder(std::string_view holder);

struct LeadershipOptions {
  // Stable across restarts of one instance, unique among the instances (App: host name and port).
  // Key-generation intents are recorded with it, so a restarted instance repairs its own.
  std::string instance_id;
  std::chrono::milliseconds ttl{10000};
};

class Leadership {
 public:
  Leadership(db::Store& store, LeadershipOptions opts, Metrics* metrics = nullptr);
  ~Leadership();  // stop()
  Leadership(const Leadership&) = delete;
  Leadership& operator=(const Leadership&) = delete;

  // One attempt to take or renew both leases. Returns whether this instance leads afterwards.
  bool step();
  // Steps every ttl/3 on its own thread. stop() also releases the leader lease, so a follower need
  // not wait for it to expire.
  void start();
  void stop();

  // The fence for writes made as leader; nullopt when this instance does not lead (or its local
  // deadline passed).
  std::optional<db::Fence> fence() const;
  bool is_leader() const { return fence().has_value(); }
  const std::string& instance_id() const { return opts_.instance_id; }
  // This process's lease holder name: instance_id plus a random incarnation, so that a restarted
  // instance never shares a term with its paused predecessor. Also the owner recorded on this
  // process's key-generation intents (KeyService::set_instance_id): on its first step() the
  // incarnation takes the "instance:<id>" lease over from its predecessor, so reconcile knows the
  // predecessor's unfinished generations are dead at once instead of after a lease and a slack.
  const std::string& holder() const { return holder_; }
  std::chrono::milliseconds ttl() const { return opts_.ttl; }
  // Called on the stepping thread when this instance starts or stops leading. Set before start().
  void set_on_change(std::function<void(bool leader)> fn) { on_change_ = std::move(fn); }

  // A write was refused as stale ("stale_leader"): counted and logged, and leadership is given
  // up at once (the next step() finds out whether it can be taken again).
  void report_refusal(const Status& st);

 private:
  void run();

  db::Store& store_;
  const LeadershipOptions opts_;
  const std::string holder_;
  Metrics* metrics_;
  std::function<void(bool)> on_change_;

  mutable std::mutex mu_;
  std::optional<db::Lease> lease_;                      // guarded by mu_: held leader lease
  std::chrono::steady_clock::time_point valid_until_;  // guarded by mu_
  bool stopping_ = false;                               // guarded by mu_
  std::condition_variable cv_;
  std::mutex step_mu_;  // one step at a time
  std::thread thread_;
};

}  // namespace keymgr
