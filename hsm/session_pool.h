// INTERNAL to km_hsm: a fixed number of logged-in sessions on one token, lent to callers.
//
// Why a pool: on SoftHSM2 2.6.1, opening a session and finding the key costs ~190 µs per
// signature, 2.5x an ES256 C_SignInit + C_Sign (~75 µs): a raw PKCS#11 loop on one thread makes
// 13.2k signatures/s with a kept session and key handle, 3.9k without. Sessions are opened and
// logged in at start(); a session that the caller reports lost is closed and its slot refilled
// lazily by the next acquire(). When even opening a session says the library is broken (p11-kit
// client after a server loss), the pool re-initialises the library once and retries.
//
// Thread-safety: all methods are thread-safe. A Lease is used by one thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/secret.h"
#include "common/status.h"
#include "hsm/pkcs11_hsm.h"
#include "hsm/pkcs11_module.h"

namespace keymgr::hsm::p11 {

struct TokenSelector {
  std::string label;   // CKA token label (trailing blanks ignored); "" = any
  std::string serial;  // token serial; "" = any
};

class SessionPool {
 public:
  // `p11` is the table to call through (maybe a test hook around module->functions()).
  SessionPool(std::shared_ptr<Module> module, const CK_FUNCTION_LIST* p11, TokenSelector token, Secret pin, int size,
              std::chrono::milliseconds acquire_timeout);
  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;
  // REQUIRES: no Lease outstanding.
  ~SessionPool();

  // Finds the token, opens `size` sessions and logs in. Errors: "hsm_config" (no/ambiguous
  // token, PIN rejected), "hsm_unavailable".
  Status start();

  class Lease {
   public:
    Lease(Lease&& o) noexcept : pool_(o.pool_), s_(std::move(o.s_)), discard_(o.discard_) { o.pool_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease() {
      if (pool_ != nullptr) pool_->give_back(std::move(s_), discard_);
    }
    CK_SESSION_HANDLE handle() const { return s_->handle(); }
    uint64_t generation() const { return s_->generation(); }
    // The session is unusable (lost, or left with an operation active): close and replace it.
    void discard() { discard_ = true; }

   private:
    friend class SessionPool;
    Lease(SessionPool* pool, std::unique_ptr<Session> s) : pool_(pool), s_(std::move(s)) {}
    SessionPool* pool_;
    std::unique_ptr<Session> s_;
    bool discard_ = false;
  };

  // Blocks up to acquire_timeout for a free session. kUnavailable/"hsm_unavailable" on timeout or
  // when no session can be opened.
  Result<Lease> acquire();

  // Logs in again (after CKR_USER_NOT_LOGGED_IN: someone logged the application out).
  Status login(CK_SESSION_HANDLE s);

  PoolStats stats() const;
  CK_SLOT_ID slot() const;

 private:
  Status find_slot();  // sets slot_ ; REQUIRES: mu_ not held
  Result<std::unique_ptr<Session>> open_session();
  void give_back(std::unique_ptr<Session> s, bool discard);

  const std::shared_ptr<Module> module_;
  const CK_FUNCTION_LIST* const p11_;
  const TokenSelector token_;
  const Secret pin_;
  const int size_;
  const std::chrono::milliseconds acquire_timeout_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Session>> idle_;  // guarded by mu_
  int live_ = 0;                                // idle + leased + being opened; guarded by mu_
  int leased_ = 0;                              // guarded by mu_
  uint64_t replaced_ = 0;                       // guarded by mu_
  CK_SLOT_ID slot_ = 0;                         // guarded by mu_
  uint64_t slot_generation_ = 0;                // generation slot_ was found in; guarded by mu_
  bool login_registered_ = false;               // guarded by mu_
};

}  // namespace keymgr::hsm::p11
