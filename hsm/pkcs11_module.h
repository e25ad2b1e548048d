// INTERNAL to km_hsm (and its tests): the PKCS#11 library, its sessions and objects as RAII
// owners, plus the CK_RV -> Status mapping. Other modules must include hsm/hsm.h or
// hsm/pkcs11_hsm.h instead: this header drags in <p11-kit/pkcs11.h>.
//
// Thread-safety: Module is thread-safe. Session and ObjectGuard are owned by one thread at a time.
#pragma once

#include <p11-kit/pkcs11.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/encoding.h"
#include "common/status.h"

namespace keymgr::hsm::p11 {

// "CKR_PIN_INCORRECT"; unknown values as "CKR_0x...".
std::string ckr_name(CK_RV rv);

// The session cannot be used again (closed, device gone, library reset): discard it.
bool session_lost(CK_RV rv);
// The library itself may need C_Finalize + C_Initialize (p11-kit client after a server loss).
bool module_broken(CK_RV rv);

// Status for a failed call, message "C_Sign: CKR_DEVICE_REMOVED". Lost sessions/devices map to
// kUnavailable/"hsm_unavailable"; everything else to kInternal/"hsm_error".
Status ck_error(std::string_view call, CK_RV rv);

// One loaded and initialized PKCS#11 library. PKCS#11 allows a single C_Initialize per process
// and library, so every user in the process shares one Module per canonical path (load() hands
// out references; the last one to go calls C_Finalize and dlclose).
class Module {
 public:
  // Errors: kInvalidArgument/"hsm_config" if the file cannot be loaded or is no PKCS#11 library;
  // kUnavailable/"hsm_unavailable" if C_Initialize fails.
  static Result<std::shared_ptr<Module>> load(const std::string& path);

  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  ~Module();

  // The library's own table (never the hooked one).
  CK_FUNCTION_LIST* functions() const { return fl_; }
  const std::string& path() const { return path_; }

  // Every call into the library is made while holding this (shared): reinitialize() takes it
  // exclusively so that no call runs across C_Finalize. Never call reinitialize() while holding it.
  // While a re-initialisation is draining the calls in progress, new callers wait here (at most
  // that re-initialisation's bounded wait plus C_Finalize + C_Initialize).
  std::shared_lock<std::shared_timed_mutex> enter() const;

  // Bumped whenever C_Finalize ran: every session and object handle of an older generation is
  // invalid and must not be closed or used (the numbers may now name someone else's objects).
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  // C_Finalize + C_Initialize, unless someone already did it since `seen_generation`. At most
  // one attempt per `min_interval` (kMinReinitInterval by default): while the device stays away,
  // callers fail fast with hsm_unavailable instead of resetting the library on every call.
  //
  // Never blocks behind a hung call: new calls are held at enter() while the calls in progress
  // finish; if they have not finished within `max_wait` (a module call that hangs), nothing is
  // re-initialised, the held calls go on, and the result is kUnavailable/"hsm_unavailable".
  static constexpr std::chrono::milliseconds kMinReinitInterval{250};
  static constexpr std::chrono::milliseconds kMaxDrainWait{1000};
  Status reinitialize(uint64_t seen_generation, std::chrono::milliseconds max_wait = kMaxDrainWait,
                      std::chrono::milliseconds min_interval = kMinReinitInterval);
  uint64_t reinit_count() const { return reinit_count_.load(); }
  // Re-initialisations given up because calls in progress did not finish within max_wait.
  uint64_t drain_timeouts() const { return drain_timeouts_.load(); }

  // Login bookkeeping shared by every pool in the process on the same token (login state in
  // PKCS#11 is per application and token, not per session): the last user to leave logs out.
  void add_login_user(CK_SLOT_ID slot);
  // Returns true when the caller was the last user and should C_Logout.
  bool remove_login_user(CK_SLOT_ID slot);

 private:
  Module(std::string path, void* dl, CK_FUNCTION_LIST* fl, bool finalize);
  static void release(Module* m);

  const std::string path_;
  void* const dl_;
  CK_FUNCTION_LIST* const fl_;
  bool finalize_;  // false if someone else in the process had initialized the library
  mutable std::shared_timed_mutex life_mu_;
  // The gate of enter() while a re-initialisation drains (without it, a steady stream of readers
  // could keep the exclusive lock out for good: glibc's rwlock prefers readers).
  mutable std::mutex gate_mu_;
  mutable std::condition_variable gate_cv_;
  std::atomic<bool> draining_{false};  // written under gate_mu_
  std::mutex reinit_mu_;               // one re-initialisation attempt at a time
  std::atomic<uint64_t> drain_timeouts_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> reinit_count_{0};
  std::chrono::steady_clock::time_point last_reinit_{};  // guarded by reinit_mu_
  std::mutex login_mu_;
  std::map<CK_SLOT_ID, int> login_users_;  // guarded by login_mu_
  int refs_ = 0;                           // guarded by the registry mutex
};

// An open session. Closes in its destructor unless abandoned (stale generation).
class Session {
 public:
  Session(const CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE h, uint64_t generation)
      : p11_(p11), h_(h), generation_(generation) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() noexcept {
    if (h_ != CK_INVALID_HANDLE) p11_->C_CloseSession(h_);
  }
  CK_SESSION_HANDLE handle() const { return h_; }
  uint64_t generation() const { return generation_; }
  // The handle died with its library generation; closing it could close a stranger's session.
  void abandon() { h_ = CK_INVALID_HANDLE; }

 private:
  const CK_FUNCTION_LIST* p11_;
  CK_SESSION_HANDLE h_;
  uint64_t generation_;
};

// Destroys a freshly created object unless release()d: a failure half-way through key
// generation leaves no orphan in the token.
class ObjectGuard {
 public:
  ObjectGuard(const CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o) : p11_(p11), s_(s), o_(o) {}
  ObjectGuard(const ObjectGuard&) = delete;
  ObjectGuard& operator=(const ObjectGuard&) = delete;
  ~ObjectGuard() noexcept {
    if (o_ != CK_INVALID_HANDLE) p11_->C_DestroyObject(s_, o_);
  }
  CK_OBJECT_HANDLE get() const { return o_; }
  CK_OBJECT_HANDLE release() {
    CK_OBJECT_HANDLE o = o_;
    o_ = CK_INVALID_HANDLE;
    return o;
  }

 private:
  const CK_FUNCTION_LIST* p11_;
  CK_SESSION_HANDLE s_;
  CK_OBJECT_HANDLE o_;
};

// Attribute read with the size query; the failing CK_RV is kept for callers that branch on it.
struct AttrResult {
  CK_RV rv = CKR_OK;
  Bytes value;
};
AttrResult get_attribute(const CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                         CK_ATTRIBUTE_TYPE type);
// Fixed-size attribute (CK_BBOOL, CK_ULONG); rv != CKR_OK on failure.
CK_RV get_ulong(const CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
                CK_ULONG* out);
CK_RV get_bool(const CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
               bool* out);

// All objects matching the template (C_FindObjectsInit/C_FindObjects/C_FindObjectsFinal).
struct FindResult {
  CK_RV rv = CKR_OK;
  const char* call = "";
  std::vector<CK_OBJECT_HANDLE> objects;
};
FindResult find_objects(const CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_ATTRIBUTE* tmpl, CK_ULONG n);
// Objects of `cls` whose CKA_ID is `id`.
FindResult find_by_id(const CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const Bytes& id);
// The private and public keys whose CKA_ID is `id`, private halves first, found with ONE search
// (plus a CKA_CLASS read per match). A search costs the whole token on SoftHSM2's file store
// (it opens every object file), so a key-pair lookup in one search instead of one per class
// halves key generation and destruction on a token with many keys.
FindResult find_keys_by_id(const CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, const Bytes& id);

}  // namespace keymgr::hsm::p11
