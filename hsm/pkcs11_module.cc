#include "hsm/pkcs11_module.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>

#include <map>

namespace keymgr::hsm::p11 {
namespace {

// Registry of loaded libraries by canonical path. Load and release both run under this mutex so
// that a C_Finalize of a dying Module can never interleave with a C_Initialize of its successor.
std::mutex& registry_mu() {
  static std::mutex mu;
  return mu;
}
std::map<std::string, Module*>& registry() {
  static auto* m = new std::map<std::string, Module*>();  // leaked on purpose: no exit-order issues
  return *m;
}

#if defined(__SANITIZE_ADDRESS__)
// Sanitizer builds keep the library mapped after dlclose: leaks inside it (SoftHSM has some) are
// then reported against libsofthsm2.so and can be suppressed (tests/support/lsan.supp) instead of
// showing up as "<unknown module>".
constexpr int kDlopenFlags = RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE;
#else
constexpr int kDlopenFlags = RTLD_NOW | RTLD_LOCAL;
#endif

CK_RV initialize(CK_FUNCTION_LIST* fl) {
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  return fl->C_Initialize(&args);
}

}  // namespace

bool session_lost(CK_RV rv) {
  switch (rv) {
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_DEVICE_REMOVED:
    case CKR_DEVICE_ERROR:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
      return true;
    default:
      return false;
  }
}

bool module_broken(CK_RV rv) { return rv == CKR_DEVICE_ERROR || rv == CKR_CRYPTOKI_NOT_INITIALIZED; }

Status ck_error(std::string_view call, CK_RV rv) {
  std::string msg = std::string(call) + ": " + ckr_name(rv);
  if (session_lost(rv) || rv == CKR_DEVICE_MEMORY) return Unavailable(std::move(msg), "hsm_unavailable");
  return Internal(std::move(msg), "hsm_error");
}

Result<std::shared_ptr<Module>> Module::load(const std::string& path) {
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) == nullptr) {
    return InvalidArgument("PKCS#11 module '" + path + "' not found", "hsm_config");
  }
  const std::string canon(resolved);
  std::lock_guard lock(registry_mu());
  Module* m = nullptr;
  if (auto it = registry().find(canon); it != registry().end()) {
    m = it->second;
  } else {
    void* dl = ::dlopen(canon.c_str(), kDlopenFlags);
    if (dl == nullptr) {
      const char* err = ::dlerror();
      return InvalidArgument("dlopen '" + path + "': " + (err ? err : "failed"), "hsm_config");
    }
    auto get_list = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(dl, "C_GetFunctionList"));
    CK_FUNCTION_LIST* fl = nullptr;
    if (get_list == nullptr) {
      ::dlclose(dl);
      return InvalidArgument("'" + path + "' is not a PKCS#11 module (no C_GetFunctionList)", "hsm_config");
    }
    if (CK_RV rv = get_list(&fl); rv != CKR_OK || fl == nullptr) {
      ::dlclose(dl);
      return InvalidArgument("C_GetFunctionList: " + ckr_name(rv), "hsm_config");
    }
    CK_RV rv = initialize(fl);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      ::dlclose(dl);
      return Unavailable("C_Initialize: " + ckr_name(rv), "hsm_unavailable");
    }
    m = new Module(canon, dl, fl, rv == CKR_OK);
    registry()[canon] = m;
  }
  ++m->refs_;
  // Each reference gets its own control block; the count that matters is refs_ (under the mutex).
  return std::shared_ptr<Module>(m, &Module::release);
}

void Module::release(Module* m) {
  std::lock_guard lock(registry_mu());
  if (--m->refs_ > 0) return;
  registry().erase(m->path_);
  delete m;
}

Module::Module(std::string path, void* dl, CK_FUNCTION_LIST* fl, bool finalize)
    : path_(std::move(path)), dl_(dl), fl_(fl), finalize_(finalize) {}

Module::~Module() {
  if (finalize_) fl_->C_Finalize(nullptr);
  ::dlclose(dl_);
}

std::shared_lock<std::shared_timed_mutex> Module::enter() const {
  if (draining_.load(std::memory_order_acquire)) {
    std::unique_lock g(gate_mu_);
    gate_cv_.wait(g, [&] { return !draining_.load(std::memory_order_relaxed); });
  }
  return std::shared_lock(life_mu_);
}

Status Module::reinitialize(uint64_t seen_generation, std::chrono::milliseconds max_wait,
                            std::chrono::milliseconds min_interval) {
  std::lock_guard one(reinit_mu_);
  if (generation_.load() != seen_generation) return Status::Ok();  // someone else already did
  const auto now = std::chrono::steady_clock::now();
  if (reinit_count_.load() > 0 && now - last_reinit_ < min_interval) {
    return Unavailable("PKCS#11 library still failing after a re-initialisation", "hsm_unavailable");
  }
  last_reinit_ = now;
  auto open_gate = [&] {
    {
      std::lock_guard g(gate_mu_);
      draining_.store(false, std::memory_order_release);
    }
    gate_cv_.notify_all();
  };
  {
    std::lock_guard g(gate_mu_);
    draining_.store(true, std::memory_order_release);
  }
  std::unique_lock lock(life_mu_, std::defer_lock);
  if (!lock.try_lock_for(max_wait)) {
    open_gate();
    drain_timeouts_.fetch_add(1);
    return Unavailable("PKCS#11 library not re-initialised: calls in progress did not finish within " +
                           std::to_string(max_wait.count()) + " ms",
                       "hsm_unavailable");
  }
  // Held exclusively: callers that pass the gate from here on wait on the lock itself.
  open_gate();
  fl_->C_Finalize(nullptr);  // result ignored: a broken library may say anything here
  generation_.fetch_add(1, std::memory_order_acq_rel);
  reinit_count_.fetch_add(1);
  // Logins died with the old generation too; pools log in again on their next new session.
  CK_RV rv = initialize(fl_);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    return Unavailable("C_Initialize (re-initialisation): " + ckr_name(rv), "hsm_unavailable");
  }
  finalize_ = true;
  return Status::Ok();
}

void Module::add_login_user(CK_SLOT_ID slot) {
  std::lock_guard l(login_mu_);
  ++login_users_[slot];
}

bool Module::remove_login_user(CK_SLOT_ID slot) {
  std::lock_guard l(login_mu_);
  auto it = login_users_.find(slot);
  if (it == login_users_.end()) return false;
  if (--it->second > 0) return false;
  login_users_.erase(it);
  return true;
}

AttrResult get_attribute(const CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                         CK_ATTRIBUTE_TYPE type) {
  AttrResult r;
  CK_ATTRIBUTE a{type, nullptr, 0};
  r.rv = p11->C_GetAttributeValue(s, o, &a, 1);
  if (r.rv != CKR_OK) return r;
  if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
    r.rv = CKR_ATTRIBUTE_SENSITIVE;
    return r;
  }
  r.value.resize(a.ulValueLen);
  a.pValue = r.value.data();
  r.rv = p11->C_GetAttributeValue(s, o, &a, 1);
  if (r.rv == CKR_OK) r.value.resize(a.ulValueLen);
  return r;
}

CK_RV get_ulong(const CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
                CK_ULONG* out) {
  CK_ATTRIBUTE a{type, out, sizeof *out};
  return p11->C_GetAttributeValue(s, o, &a, 1);
}

CK_RV get_bool(const CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
               bool* out) {
  CK_BBOOL b = CK_FALSE;
  CK_ATTRIBUTE a{type, &b, sizeof b};
  CK_RV rv = p11->C_GetAttributeValue(s, o, &a, 1);
  *out = b == CK_TRUE;
  return rv;
}

FindResult find_objects(const CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_ATTRIBUTE* tmpl, CK_ULONG n) {
  FindResult r;
  r.call = "C_FindObjectsInit";
  r.rv = p11->C_FindObjectsInit(s, tmpl, n);
  if (r.rv != CKR_OK) return r;
  CK_OBJECT_HANDLE batch[64];
  for (;;) {
    CK_ULONG got = 0;
    r.call = "C_FindObjects";
    r.rv = p11->C_FindObjects(s, batch, 64, &got);
    if (r.rv != CKR_OK) break;
    r.objects.insert(r.objects.end(), batch, batch + got);
    if (got < 64) break;
  }
  // Always end the search: an active find operation would poison the pooled session.
  CK_RV fin = p11->C_FindObjectsFinal(s);
  if (r.rv == CKR_OK && fin != CKR_OK) {
    r.rv = fin;
    r.call = "C_FindObjectsFinal";
  }
  return r;
}

FindResult find_by_id(const CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const Bytes& id) {
  CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls},
                         {CKA_ID, const_cast<uint8_t*>(id.data()), static_cast<CK_ULONG>(id.size())}};
  return find_objects(p11, s, tmpl, 2);
}

FindResult find_keys_by_id(const CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, const Bytes& id) {
  CK_ATTRIBUTE tmpl[] = {{CKA_ID, const_cast<uint8_t*>(id.data()), static_cast<CK_ULONG>(id.size())}};
  FindResult all = find_objects(p11, s, tmpl, 1);
  if (all.rv != CKR_OK) return all;
  FindResult keys;
  std::vector<CK_OBJECT_HANDLE> pubs;
  for (CK_OBJECT_HANDLE h : all.objects) {
    CK_ULONG cls = 0;
    CK_RV rv = get_ulong(p11, s, h, CKA_CLASS, &cls);
    if (rv == CKR_OBJECT_HANDLE_INVALID) continue;  // destroyed since the search
    if (rv != CKR_OK) {
      keys.rv = rv;
      keys.call = "C_GetAttributeValue(CKA_CLASS)";
      return keys;
    }
    if (cls == CKO_PRIVATE_KEY) keys.objects.push_back(h);
    if (cls == CKO_PUBLIC_KEY) pubs.push_back(h);
  }
  keys.objects.insert(keys.objects.end(), pubs.begin(), pubs.end());
  return keys;
}

}  // namespace keymgr::hsm::p11
