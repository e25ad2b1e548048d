#include "hsm/deadline_hsm.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace keymgr::hsm {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct Job {
  virtual ~Job() = default;
  virtual void run(Hsm& hsm) = 0;
  SteadyClock::time_point deadline;
  bool abandoned = false;  // the caller stopped waiting; guarded by the executor's mu_
  bool done = false;       // guarded by the executor's mu_
  std::condition_variable cv;
};

template <typename R, typename F>
struct TypedJob final : Job {
  explicit TypedJob(F f) : fn(std::move(f)) {}
  void run(Hsm& hsm) override { result.emplace(fn(hsm)); }
  F fn;
  std::optional<R> result;
};

class DeadlineHsmImpl final : public DeadlineHsm {
 public:
  DeadlineHsmImpl(std::unique_ptr<Hsm> inner, DeadlineOptions o)
      : inner_(std::move(inner)),
        call_timeout_(std::max(o.call_timeout, std::chrono::milliseconds(1))),
        admin_timeout_(std::max(o.admin_timeout, std::chrono::milliseconds(1))),
        busy_until_(static_cast<size_t>(std::clamp(o.workers, 1, 256))) {
    supported_ = inner_->supported_algorithms();
    for (size_t i = 0; i < busy_until_.size(); ++i) workers_.emplace_back([this, i] { work(i); });
  }

  ~DeadlineHsmImpl() override {
    {
      std::lock_guard l(mu_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  std::vector<Algorithm> supported_algorithms() const override { return supported_; }

  Result<KeyInfo> generate_key(Algorithm alg, std::string_view id_hex, std::string_view label) override {
    return call<Result<KeyInfo>>("generate_key", admin_timeout_,
                                 [alg, id = std::string(id_hex), label = std::string(label)](Hsm& h) {
                                   return h.generate_key(alg, id, label);
                                 });
  }
  Result<std::vector<KeyInfo>> list_keys(std::string_view label_prefix) override {
    return call<Result<std::vector<KeyInfo>>>(
        "list_keys", admin_timeout_, [p = std::string(label_prefix)](Hsm& h) { return h.list_keys(p); });
  }
  Result<Bytes> sign(std::string_view id_hex, Algorithm alg, std::string_view signing_input) override {
    return call<Result<Bytes>>("sign", call_timeout_,
                               [id = std::string(id_hex), alg, in = std::string(signing_input)](Hsm& h) {
                                 return h.sign(id, alg, in);
                               });
  }
  Status destroy_key(std::string_view id_hex) override {
    return call<Status>("destroy_key", admin_timeout_,
                        [id = std::string(id_hex)](Hsm& h) { return h.destroy_key(id); });
  }
  Status health() override {
    return call<Status>("health", call_timeout_, [](Hsm& h) { return h.health(); });
  }
  Status refresh_view() override {
    return call<Status>("refresh_view", admin_timeout_, [](Hsm& h) { return h.refresh_view(); });
  }

  DeadlineStats deadline_stats() const override {
    std::lock_guard l(mu_);
    DeadlineStats s = stats_;
    s.overdue = overdue_locked(SteadyClock::now());
    return s;
  }
  Hsm& inner() override { return *inner_; }

 private:
  template <typename R, typename F>
  R call(const char* what, std::chrono::milliseconds timeout, F f) {
    auto job = std::make_shared<TypedJob<R, F>>(std::move(f));
    const auto now = SteadyClock::now();
    job->deadline = now + timeout;
    std::unique_lock l(mu_);
    if (overdue_locked(now) == static_cast<int>(busy_until_.size())) {
      ++stats_.fast_fails;
      return R(Unavailable(std::string("HSM ") + what + " refused: every HSM worker is stuck in a call past its deadline",
                           "hsm_timeout"));
    }
    queue_.push_back(job);
    work_cv_.notify_one();
    if (!job->cv.wait_until(l, job->deadline, [&] { return job->done; })) {
      job->abandoned = true;  // a queued job is dropped; a running one's result is discarded
      ++stats_.timeouts;
      return R(Unavailable(std::string("HSM ") + what + " did not answer within " + std::to_string(timeout.count()) +
                               " ms",
                           "hsm_timeout"));
    }
    return std::move(*job->result);
  }

  // REQUIRES: mu_ held.
  int overdue_locked(SteadyClock::time_point now) const {
    int n = 0;
    for (const auto& until : busy_until_) n += (until && *until < now) ? 1 : 0;
    return n;
  }

  void work(size_t i) {
    std::unique_lock l(mu_);
    for (;;) {
      work_cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ and nothing left
      std::shared_ptr<Job> job = std::move(queue_.front());
      queue_.pop_front();
      if (job->abandoned) continue;
      busy_until_[i] = job->deadline;
      ++stats_.calls;
      l.unlock();
      job->run(*inner_);
      l.lock();
      busy_until_[i].reset();
      job->done = true;
      job->cv.notify_one();
    }
  }

  const std::unique_ptr<Hsm> inner_;
  const std::chrono::milliseconds call_timeout_;
  const std::chrono::milliseconds admin_timeout_;
  std::vector<Algorithm> supported_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::deque<std::shared_ptr<Job>> queue_;                           // guarded by mu_
  std::vector<std::optional<SteadyClock::time_point>> busy_until_;  // per worker; guarded by mu_
  DeadlineStats stats_;                                              // guarded by mu_
  bool stop_ = false;                                                // guarded by mu_
  std::vector<std::thread> workers_;  // last: started after everything they use
};

}  // namespace

std::unique_ptr<DeadlineHsm> with_deadlines(std::unique_ptr<Hsm> inner, DeadlineOptions options) {
  return std::make_unique<DeadlineHsmImpl>(std::move(inner), options);
}

}  // namespace keymgr::hsm
