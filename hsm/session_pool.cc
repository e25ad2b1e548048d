#include "hsm/session_pool.h"

#include <algorithm>

namespace keymgr::hsm::p11 {
namespace {

std::string trimmed(const unsigned char* field, size_t n) {
  std::string s(reinterpret_cast<const char*>(field), n);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

bool pin_problem(CK_RV rv) {
  return rv == CKR_PIN_INCORRECT || rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_EXPIRED ||
         rv == CKR_PIN_LOCKED || rv == CKR_USER_PIN_NOT_INITIALIZED;
}

// REQUIRES: caller holds module->enter().
Status login_locked(const CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, const Secret& pin) {
  const std::string& p = pin.reveal();
  CK_RV rv = p11->C_Login(s, CKU_USER, reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(p.data())),
                          static_cast<CK_ULONG>(p.size()));
  if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) return Status::Ok();
  if (pin_problem(rv)) return InvalidArgument("C_Login: " + ckr_name(rv), "hsm_config");
  return ck_error("C_Login", rv);
}

// REQUIRES: caller holds module->enter().
Status ensure_login_locked(const CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, const Secret& pin) {
  CK_SESSION_INFO info{};
  if (CK_RV rv = p11->C_GetSessionInfo(s, &info); rv != CKR_OK) return ck_error("C_GetSessionInfo", rv);
  if (info.state == CKS_RW_USER_FUNCTIONS || info.state == CKS_RO_USER_FUNCTIONS) return Status::Ok();
  return login_locked(p11, s, pin);
}

}  // namespace

SessionPool::SessionPool(std::shared_ptr<Module> module, const CK_FUNCTION_LIST* p11, TokenSelector token, Secret pin,
                         int size, std::chrono::milliseconds acquire_timeout)
    : module_(std::move(module)),
      p11_(p11),
      token_(std::move(token)),
      pin_(std::move(pin)),
      size_(size),
      acquire_timeout_(acquire_timeout) {}

SessionPool::~SessionPool() {
  auto entered = module_->enter();
  std::lock_guard l(mu_);
  const uint64_t gen = module_->generation();
  for (auto& s : idle_) {
    if (s->generation() != gen) s->abandon();
  }
  if (login_registered_ && module_->remove_login_user(slot_)) {
    for (auto& s : idle_) {
      if (s->handle() != CK_INVALID_HANDLE) {
        p11_->C_Logout(s->handle());
        break;
      }
    }
  }
  idle_.clear();  // closes
}

Status SessionPool::find_slot() {
  if (token_.label.empty() && token_.serial.empty()) {
    return InvalidArgument("PKCS#11: token_label or token_serial is required", "hsm_config");
  }
  CK_ULONG n = 0;
  if (CK_RV rv = p11_->C_GetSlotList(CK_TRUE, nullptr, &n); rv != CKR_OK) return ck_error("C_GetSlotList", rv);
  std::vector<CK_SLOT_ID> slots(n);
  if (n > 0) {
    if (CK_RV rv = p11_->C_GetSlotList(CK_TRUE, slots.data(), &n); rv != CKR_OK) {
      return ck_error("C_GetSlotList", rv);
    }
    slots.resize(n);
  }
  std::vector<CK_SLOT_ID> matches;
  for (CK_SLOT_ID id : slots) {
    CK_TOKEN_INFO ti{};
    if (p11_->C_GetTokenInfo(id, &ti) != CKR_OK) continue;
    if (!(ti.flags & CKF_TOKEN_INITIALIZED)) continue;
    if (!token_.label.empty() && trimmed(ti.label, sizeof ti.label) != token_.label) continue;
    if (!token_.serial.empty() && trimmed(ti.serialNumber, sizeof ti.serialNumber) != token_.serial) continue;
    matches.push_back(id);
  }
  std::string what = token_.label.empty() ? "serial '" + token_.serial + "'" : "label '" + token_.label + "'";
  if (!token_.label.empty() && !token_.serial.empty()) what += " and serial '" + token_.serial + "'";
  if (matches.empty()) {
    return InvalidArgument("PKCS#11: no initialized token with " + what + " in " + module_->path(), "hsm_config");
  }
  if (matches.size() > 1) {
    return InvalidArgument("PKCS#11: " + std::to_string(matches.size()) + " tokens match " + what +
                               "; select by token_serial",
                           "hsm_config");
  }
  std::lock_guard l(mu_);
  slot_ = matches.front();
  slot_generation_ = module_->generation();
  return Status::Ok();
}

Status SessionPool::start() {
  {
    auto entered = module_->enter();
    RETURN_IF_ERROR(find_slot());
  }
  std::vector<std::unique_ptr<Session>> opened;
  for (int i = 0; i < size_; ++i) {
    auto s = open_session();
    if (!s.ok()) {
      auto entered = module_->enter();
      opened.clear();
      return s.status();
    }
    opened.push_back(std::move(s).value());
  }
  std::lock_guard l(mu_);
  module_->add_login_user(slot_);
  login_registered_ = true;
  live_ = size_;
  for (auto& s : opened) idle_.push_back(std::move(s));
  return Status::Ok();
}

Result<std::unique_ptr<Session>> SessionPool::open_session() {
  for (int attempt = 0;; ++attempt) {
    uint64_t gen = 0;
    {
      auto entered = module_->enter();
      gen = module_->generation();
      bool refind;
      CK_SLOT_ID slot;
      {
        std::lock_guard l(mu_);
        refind = slot_generation_ != gen;
        slot = slot_;
      }
      Status st;
      if (refind) {
        // Slot ids may change across C_Finalize/C_Initialize: look the token up again. A token that
        // is not there now (a p11-kit client initialised while its server was away lists no
        // slots) is an outage, not a configuration error: re-initialise again later.
        st = find_slot();
        if (st.code() == ErrorCode::kInvalidArgument) {
          st = Unavailable(st.message() + " (after a re-initialisation)", "hsm_unavailable");
        }
        std::lock_guard l(mu_);
        slot = slot_;
      }
      CK_RV rv = CKR_OK;
      if (st.ok()) {
        CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
        rv = p11_->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &h);
        if (rv == CKR_OK) {
          auto s = std::make_unique<Session>(p11_, h, gen);
          RETURN_IF_ERROR(ensure_login_locked(p11_, h, pin_));
          return s;
        }
        st = ck_error("C_OpenSession", rv);
      }
      const bool broken = module_broken(rv) || (rv == CKR_OK && st.code() == ErrorCode::kUnavailable);
      if (attempt > 0 || !broken) return st;
    }
    // The library says it is broken (e.g. a p11-kit client whose server went away): only a
    // C_Finalize + C_Initialize brings it back. Done outside enter(): it needs the lock exclusively.
    RETURN_IF_ERROR(module_->reinitialize(gen));
  }
}

Result<SessionPool::Lease> SessionPool::acquire() {
  std::unique_lock l(mu_);
  const auto deadline = std::chrono::steady_clock::now() + acquire_timeout_;
  bool open_failed = false;
  for (;;) {
    // Refill a slot freed by a discarded session first: "replaced" means the pool is whole
    // again after the next call, not whenever the idle sessions happen to run out.
    if (live_ < size_ && !open_failed) {
      ++live_;  // reserve the slot while opening outside the lock
      l.unlock();
      auto s = open_session();
      l.lock();
      if (s.ok()) {
        ++leased_;
        return Lease(this, std::move(s).value());
      }
      --live_;
      cv_.notify_one();
      open_failed = true;
      if (idle_.empty()) {
        const Status& st = s.status();
        if (st.code() == ErrorCode::kUnavailable) return st;
        return Unavailable("cannot open a new HSM session: " + st.message(), "hsm_unavailable");
      }
    }
    while (!idle_.empty()) {
      std::unique_ptr<Session> s = std::move(idle_.back());
      idle_.pop_back();
      if (s->generation() != module_->generation()) {
        s->abandon();
        --live_;
        ++replaced_;
        continue;
      }
      ++leased_;
      return Lease(this, std::move(s));
    }
    if (live_ < size_) {
      if (!open_failed) continue;
      return Unavailable("cannot open a new HSM session", "hsm_unavailable");
    }
    if (cv_.wait_until(l, deadline) == std::cv_status::timeout && idle_.empty() && live_ >= size_) {
      return Unavailable("no HSM session free within " + std::to_string(acquire_timeout_.count()) + " ms",
                         "hsm_unavailable");
    }
  }
}

void SessionPool::give_back(std::unique_ptr<Session> s, bool discard) {
  {
    std::lock_guard l(mu_);
    --leased_;
    if (!discard) {
      idle_.push_back(std::move(s));
      cv_.notify_one();
      return;
    }
    --live_;
    ++replaced_;
    cv_.notify_one();
  }
  auto entered = module_->enter();
  if (s->generation() != module_->generation()) s->abandon();
  s.reset();
}

Status SessionPool::login(CK_SESSION_HANDLE s) { return login_locked(p11_, s, pin_); }

PoolStats SessionPool::stats() const {
  std::lock_guard l(mu_);
  PoolStats st;
  st.size = size_;
  st.open = live_;
  st.idle = static_cast<int>(idle_.size());
  st.leased = leased_;
  st.replaced = replaced_;
  st.reinitializations = module_->reinit_count();
  st.drain_timeouts = module_->drain_timeouts();
  return st;
}

CK_SLOT_ID SessionPool::slot() const {
  std::lock_guard l(mu_);
  return slot_;
}

}  // namespace keymgr::hsm::p11
