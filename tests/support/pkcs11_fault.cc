#include "tests/support/pkcs11_fault.h"

#include <cstdlib>

namespace keymgr::testing {
namespace {

std::atomic<Pkcs11FaultInjector*> g_active{nullptr};

template <typename F>
CK_RV guarded(P11Call call, F&& real_call) {
  Pkcs11FaultInjector* fi = Pkcs11FaultInjector::active();
  if (CK_RV rv = fi->before(call); rv != CKR_OK) return rv;
  CK_RV rv = real_call(fi->real());
  fi->after(call, rv);
  return rv;
}

CK_RV tr_get_slot_list(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR n) {
  CK_RV rv = guarded(P11Call::kGetSlotList, [&](CK_FUNCTION_LIST* f) { return f->C_GetSlotList(present, list, n); });
  if (rv == kNoSlots) {
    *n = 0;
    return CKR_OK;
  }
  return rv;
}
CK_RV tr_open_session(CK_SLOT_ID slot, CK_FLAGS flags, void* app, CK_NOTIFY notify, CK_SESSION_HANDLE_PTR s) {
  return guarded(P11Call::kOpenSession,
                 [&](CK_FUNCTION_LIST* f) { return f->C_OpenSession(slot, flags, app, notify, s); });
}
CK_RV tr_login(CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len) {
  return guarded(P11Call::kLogin, [&](CK_FUNCTION_LIST* f) { return f->C_Login(s, user, pin, len); });
}
CK_RV tr_generate_key_pair(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pub, CK_ULONG npub,
                           CK_ATTRIBUTE_PTR priv, CK_ULONG npriv, CK_OBJECT_HANDLE_PTR hpub,
                           CK_OBJECT_HANDLE_PTR hpriv) {
  return guarded(P11Call::kGenerateKeyPair, [&](CK_FUNCTION_LIST* f) {
    return f->C_GenerateKeyPair(s, m, pub, npub, priv, npriv, hpub, hpriv);
  });
}
CK_RV tr_get_attribute_value(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n) {
  return guarded(P11Call::kGetAttributeValue,
                 [&](CK_FUNCTION_LIST* f) { return f->C_GetAttributeValue(s, o, t, n); });
}
CK_RV tr_find_objects_init(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n) {
  return guarded(P11Call::kFindObjectsInit, [&](CK_FUNCTION_LIST* f) { return f->C_FindObjectsInit(s, t, n); });
}
CK_RV tr_sign_init(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) {
  return guarded(P11Call::kSignInit, [&](CK_FUNCTION_LIST* f) { return f->C_SignInit(s, m, k); });
}
CK_RV tr_sign(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR sig, CK_ULONG_PTR sl) {
  return guarded(P11Call::kSign, [&](CK_FUNCTION_LIST* f) { return f->C_Sign(s, d, dl, sig, sl); });
}
CK_RV tr_destroy_object(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o) {
  return guarded(P11Call::kDestroyObject, [&](CK_FUNCTION_LIST* f) { return f->C_DestroyObject(s, o); });
}

}  // namespace

Pkcs11FaultInjector::Pkcs11FaultInjector() {
  Pkcs11FaultInjector* expected = nullptr;
  if (!g_active.compare_exchange_strong(expected, this)) std::abort();  // one at a time
}

Pkcs11FaultInjector::~Pkcs11FaultInjector() { g_active.store(nullptr); }

Pkcs11FaultInjector* Pkcs11FaultInjector::active() { return g_active.load(); }

std::function<void*(void*)> Pkcs11FaultInjector::hook() {
  return [this](void* real) -> void* {
    real_ = static_cast<CK_FUNCTION_LIST*>(real);
    wrapped_ = *real_;
    wrapped_.C_GetSlotList = tr_get_slot_list;
    wrapped_.C_OpenSession = tr_open_session;
    wrapped_.C_Login = tr_login;
    wrapped_.C_GenerateKeyPair = tr_generate_key_pair;
    wrapped_.C_GetAttributeValue = tr_get_attribute_value;
    wrapped_.C_FindObjectsInit = tr_find_objects_init;
    wrapped_.C_SignInit = tr_sign_init;
    wrapped_.C_Sign = tr_sign;
    wrapped_.C_DestroyObject = tr_destroy_object;
    return &wrapped_;
  };
}

void Pkcs11FaultInjector::fail_next(P11Call call, CK_RV rv, int times) {
  std::lock_guard l(mu_);
  arms_[static_cast<size_t>(call)] = Arm{rv, times, std::nullopt};
}

void Pkcs11FaultInjector::fail_after(P11Call after_call, P11Call call, CK_RV rv, int times) {
  std::lock_guard l(mu_);
  arms_[static_cast<size_t>(call)] = Arm{rv, times, after_call};
}

int Pkcs11FaultInjector::calls(P11Call call) const {
  std::lock_guard l(mu_);
  return calls_[static_cast<size_t>(call)];
}

void Pkcs11FaultInjector::hang(P11Call call) {
  std::lock_guard l(mu_);
  hang_[static_cast<size_t>(call)] = true;
}

void Pkcs11FaultInjector::release_hangs() {
  std::lock_guard l(mu_);
  hang_.fill(false);
  released_.notify_all();
}

int Pkcs11FaultInjector::hung() const {
  std::lock_guard l(mu_);
  return hung_;
}

CK_RV Pkcs11FaultInjector::before(P11Call call) {
  std::unique_lock l(mu_);
  const size_t i = static_cast<size_t>(call);
  ++calls_[i];
  if (hang_[i]) {
    ++hung_;
    released_.wait(l, [&] { return !hang_[i]; });
    --hung_;
  }
  if (run_before_[i]) {
    auto fn = std::move(run_before_[i]);
    run_before_[i] = nullptr;
    l.unlock();
    fn();
    l.lock();
  }
  Arm& a = arms_[i];
  if (a.times > 0 && !a.after) {
    --a.times;
    return a.rv;
  }
  return CKR_OK;
}

void Pkcs11FaultInjector::run_before(P11Call call, std::function<void()> fn) {
  std::lock_guard l(mu_);
  run_before_[static_cast<size_t>(call)] = std::move(fn);
}

void Pkcs11FaultInjector::after(P11Call call, CK_RV rv) {
  if (rv != CKR_OK) return;
  std::lock_guard l(mu_);
  for (Arm& a : arms_) {
    if (a.after && *a.after == call) a.after.reset();
  }
}

}  // namespace keymgr::testing
