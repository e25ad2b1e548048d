#include "hsm/pkcs11_hsm.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <cstring>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "common/crypto.h"
#include "hsm/pkcs11_module.h"
#include "hsm/public_key.h"
#include "hsm/session_pool.h"

namespace keymgr::hsm {
namespace {

using p11::SessionPool;

const Bytes kP256Oid = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
const Bytes kP384Oid = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
const Bytes kEd25519Oid = {0x06, 0x03, 0x2b, 0x65, 0x70};
// Some modules name the curve as a PrintableString instead of the OID (PKCS#11 3.0 allows both).
const Bytes kEd25519Name = {0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's', '2', '5', '5', '1', '9'};

struct CachedKey {
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  Algorithm alg = Algorithm::kES256;
  uint64_t generation = 0;
};

// The mechanisms a key of `alg` may be used with (CKA_ALLOWED_MECHANISMS): the token refuses
// anything else, and it records the RSA key's JWS flavour.
std::vector<CK_MECHANISM_TYPE> allowed_mechanisms(Algorithm alg) {
  if (is_ecdsa(alg)) return {CKM_ECDSA};
  if (alg == Algorithm::kEdDSA) return {CKM_EDDSA};
  if (is_pss(alg)) return {CKM_SHA256_RSA_PKCS_PSS, CKM_RSA_PKCS_PSS};
  return {CKM_SHA256_RSA_PKCS};
}

Status invalid_id(std::string_view id_hex) {
  return InvalidArgument("key id must be non-empty hex (at most 128 bytes), got '" + std::string(id_hex) + "'",
                         "invalid_key_id");
}

Result<Bytes> parse_id(std::string_view id_hex) {
  auto id = hex_decode(id_hex);
  if (!id || id->empty() || id->size() > 128) return invalid_id(id_hex);
  return *id;
}

// CKA_EC_POINT is a DER OCTET STRING around the point (PKCS#11 2.40, SoftHSM); some modules
// return the bare point. Accept both, nothing else.
std::optional<Bytes> ec_point_value(const Bytes& attr, size_t point_len) {
  if (attr.size() == point_len && (point_len == 32 || attr[0] == 0x04)) return attr;
  if (attr.size() < 2 || attr[0] != 0x04) return std::nullopt;
  size_t len = 0, hdr = 0;
  if (attr[1] < 0x80) {
    len = attr[1];
    hdr = 2;
  } else if (attr[1] == 0x81 && attr.size() >= 3) {
    len = attr[2];
    hdr = 3;
  } else {
    return std::nullopt;
  }
  if (len != point_len || attr.size() != hdr + len) return std::nullopt;
  return Bytes(attr.begin() + static_cast<long>(hdr), attr.end());
}

Bytes strip_leading_zeros(Bytes b) {
  size_t i = 0;
  while (i + 1 < b.size() && b[i] == 0) ++i;
  b.erase(b.begin(), b.begin() + static_cast<long>(i));
  return b;
}

class Pkcs11HsmImpl final : public Pkcs11Hsm {
 public:
  Pkcs11HsmImpl(std::shared_ptr<p11::Module> module, const CK_FUNCTION_LIST* fl, std::unique_ptr<SessionPool> pool)
      : module_(std::move(module)), p11_(fl), pool_(std::move(pool)) {}

  Status load_mechanisms();

  std::vector<Algorithm> supported_algorithms() const override { return supported_; }
  Result<KeyInfo> generate_key(Algorithm alg, std::string_view id_hex, std::string_view label) override;
  Result<std::vector<KeyInfo>> list_keys(std::string_view label_prefix) override;
  Result<Bytes> sign(std::string_view id_hex, Algorithm alg, std::string_view signing_input) override;
  Status destroy_key(std::string_view id_hex) override;
  Status health() override;
  Status refresh_view() override { return refresh(module_->generation(), std::chrono::milliseconds(0)); }
  PoolStats pool_stats() const override {
    PoolStats st = pool_->stats();
    st.view_refreshes = view_refreshes_.load();
    return st;
  }

  // A key_not_found re-reads the token at most this often (a flood of requests for a key that
  // really is gone must not keep resetting the library under everyone else's signatures).
  static constexpr std::chrono::milliseconds kNotFoundRefreshInterval{1000};

 private:
  // Runs f(session, rv) on a borrowed session while inside the module; f stores the CK_RV of a
  // failed call in rv. A lost session is discarded (and the call retried once on a fresh one
  // when only the session, not the device, was lost); a logged-out application logs in again.
  template <typename F>
  auto run(F&& f) -> decltype(f(CK_SESSION_HANDLE{}, std::declval<CK_RV&>()));

  // REQUIRES: inside module_->enter().
  Result<CachedKey> private_key(CK_SESSION_HANDLE s, const std::string& id_norm, const Bytes& id, bool refresh,
                                CK_RV& rv);
  Result<Algorithm> key_algorithm(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_RV& rv);
  Result<Bytes> read_public(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub, Algorithm alg, CK_RV& rv);
  Result<Bytes> sign_once(CK_SESSION_HANDLE s, const CachedKey& key, Algorithm alg, const Bytes& data, CK_RV& rv);
  // C_Finalize + C_Initialize so that the module re-reads the token's objects, unless the library
  // was re-initialised since `seen` (then the view is already fresh).
  Status refresh(uint64_t seen, std::chrono::milliseconds min_interval) {
    if (module_->generation() != seen) return Status::Ok();
    Status st = module_->reinitialize(seen, p11::Module::kMaxDrainWait, min_interval);
    if (st.ok()) view_refreshes_.fetch_add(1);
    return st;
  }
  // Runs `once`; when it answers key_not_found, refreshes the view (rate-limited) and runs it again.
  template <typename F>
  auto looking_twice(F&& once) -> decltype(once()) {
    const uint64_t seen = module_->generation();
    auto r = once();
    const Status& st = status_of(r);
    if (st.ok() || st.reason() != "key_not_found") return r;
    if (!refresh(seen, kNotFoundRefreshInterval).ok()) return r;
    return once();
  }
  static const Status& status_of(const Status& s) { return s; }
  template <typename T>
  static const Status& status_of(const Result<T>& r) {
    static const Status kOk;
    return r.ok() ? kOk : r.status();
  }
  void forget(const std::string& id_norm) {
    std::lock_guard l(cache_mu_);
    cache_.erase(id_norm);
  }

  const std::shared_ptr<p11::Module> module_;
  const CK_FUNCTION_LIST* const p11_;
  const std::unique_ptr<SessionPool> pool_;
  std::vector<Algorithm> supported_;  // written once before the object is shared
  bool pss_combined_ = false;         // CKM_SHA256_RSA_PKCS_PSS present; else hash on the host

  std::mutex cache_mu_;
  std::unordered_map<std::string, CachedKey> cache_;  // private key handles by id; guarded by cache_mu_
  std::atomic<uint64_t> view_refreshes_{0};
};

template <typename F>
auto Pkcs11HsmImpl::run(F&& f) -> decltype(f(CK_SESSION_HANDLE{}, std::declval<CK_RV&>())) {
  using R = decltype(f(CK_SESSION_HANDLE{}, std::declval<CK_RV&>()));
  for (int attempt = 0;; ++attempt) {
    auto leased = pool_->acquire();
    if (!leased.ok()) return R(leased.status());
    SessionPool::Lease lease = std::move(leased).value();
    CK_RV rv = CKR_OK;
    std::optional<R> r;
    bool retry = false;
    {
      auto entered = module_->enter();
      if (lease.generation() != module_->generation()) {
        rv = CKR_SESSION_HANDLE_INVALID;  // the library was re-initialised since the lease
        r.emplace(Unavailable("session outlived a library re-initialisation", "hsm_unavailable"));
      } else {
        r.emplace(f(lease.handle(), rv));
        if (rv == CKR_USER_NOT_LOGGED_IN && attempt == 0) {
          // Another user of the library in this process logged the application out.
          retry = pool_->login(lease.handle()).ok();
        }
      }
    }
    if (p11::session_lost(rv) || rv == CKR_OPERATION_ACTIVE) {
      lease.discard();
      retry = attempt == 0 &&
              (rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED || rv == CKR_OPERATION_ACTIVE);
    }
    if (!retry) return std::move(*r);
  }
}

Status Pkcs11HsmImpl::load_mechanisms() {
  auto entered = module_->enter();
  const CK_SLOT_ID slot = pool_->slot();
  CK_ULONG n = 0;
  if (CK_RV rv = p11_->C_GetMechanismList(slot, nullptr, &n); rv != CKR_OK) return p11::ck_error("C_GetMechanismList", rv);
  // One spare element: p11-kit 0.24's client, when it drops mechanisms it cannot forward (EdDSA,
  // SHA256-RSA-PKCS-PSS), memmove()s one element past the end of the list (mechanism_list_purge;
  // AddressSanitizer caught it reading past our buffer). The count passed in stays n.
  std::vector<CK_MECHANISM_TYPE> mechs(n + 1);
  if (n > 0) {
    if (CK_RV rv = p11_->C_GetMechanismList(slot, mechs.data(), &n); rv != CKR_OK) {
      return p11::ck_error("C_GetMechanismList", rv);
    }
  }
  mechs.resize(n);
  auto info = [&](CK_MECHANISM_TYPE m) -> std::optional<CK_MECHANISM_INFO> {
    if (std::find(mechs.begin(), mechs.end(), m) == mechs.end()) return std::nullopt;
    CK_MECHANISM_INFO mi{};
    if (p11_->C_GetMechanismInfo(slot, m, &mi) != CKR_OK) return std::nullopt;
    return mi;
  };
  auto fits = [](const std::optional<CK_MECHANISM_INFO>& mi, CK_ULONG bits) {
    // Some modules report EC sizes in bytes or leave them 0: only reject a clear "too big".
    return mi && (mi->ulMaxKeySize == 0 || mi->ulMaxKeySize >= bits || mi->ulMaxKeySize * 8 >= bits);
  };
  auto ec_gen = info(CKM_EC_KEY_PAIR_GEN);
  auto ecdsa = info(CKM_ECDSA);
  if (ec_gen && ecdsa && fits(ec_gen, 256)) supported_.push_back(Algorithm::kES256);
  if (ec_gen && ecdsa && fits(ec_gen, 384)) supported_.push_back(Algorithm::kES384);
  auto rsa_gen = info(CKM_RSA_PKCS_KEY_PAIR_GEN);
  auto rs = info(CKM_SHA256_RSA_PKCS);
  auto ps_combined = info(CKM_SHA256_RSA_PKCS_PSS);
  auto ps_raw = info(CKM_RSA_PKCS_PSS);
  pss_combined_ = ps_combined.has_value();
  for (CK_ULONG bits : {2048UL, 3072UL}) {
    if (!fits(rsa_gen, bits) || (rsa_gen->ulMinKeySize > bits)) continue;
    if (rs) supported_.push_back(bits == 2048 ? Algorithm::kRS256 : Algorithm::kRS256_3072);
    if (ps_combined || ps_raw) supported_.push_back(bits == 2048 ? Algorithm::kPS256 : Algorithm::kPS256_3072);
  }
  if (info(CKM_EC_EDWARDS_KEY_PAIR_GEN) && info(CKM_EDDSA)) supported_.push_back(Algorithm::kEdDSA);
  std::sort(supported_.begin(), supported_.end());
  return Status::Ok();
}

Result<Algorithm> Pkcs11HsmImpl::key_algorithm(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_RV& rv) {
  CK_ULONG type = 0;
  if ((rv = p11::get_ulong(p11_, s, h, CKA_KEY_TYPE, &type)) != CKR_OK) {
    return p11::ck_error("C_GetAttributeValue(CKA_KEY_TYPE)", rv);
  }
  if (type == CKK_EC || type == CKK_EC_EDWARDS) {
    auto params = p11::get_attribute(p11_, s, h, CKA_EC_PARAMS);
    if ((rv = params.rv) != CKR_OK) return p11::ck_error("C_GetAttributeValue(CKA_EC_PARAMS)", rv);
    if (type == CKK_EC && params.value == kP256Oid) return Algorithm::kES256;
    if (type == CKK_EC && params.value == kP384Oid) return Algorithm::kES384;
    if (type == CKK_EC_EDWARDS && (params.value == kEd25519Oid || params.value == kEd25519Name)) {
      return Algorithm::kEdDSA;
    }
    return InvalidArgument("key uses a curve keymgr does not sign with", "algorithm_unsupported");
  }
  if (type != CKK_RSA) return InvalidArgument("key type is not EC, EdDSA or RSA", "algorithm_unsupported");
  auto modulus = p11::get_attribute(p11_, s, h, CKA_MODULUS);
  if ((rv = modulus.rv) != CKR_OK) return p11::ck_error("C_GetAttributeValue(CKA_MODULUS)", rv);
  const size_t bytes = strip_leading_zeros(modulus.value).size();
  if (bytes != 256 && bytes != 384) return InvalidArgument("RSA key is neither 2048 nor 3072 bits", "algorithm_unsupported");
  // Keys made by keymgr carry CKA_ALLOWED_MECHANISMS; a foreign RSA key without it counts as RS256.
  bool pss = false;
  auto allowed = p11::get_attribute(p11_, s, h, CKA_ALLOWED_MECHANISMS);
  if (allowed.rv == CKR_OK && allowed.value.size() % sizeof(CK_MECHANISM_TYPE) == 0) {
    std::vector<CK_MECHANISM_TYPE> m(allowed.value.size() / sizeof(CK_MECHANISM_TYPE));
    if (!m.empty()) std::memcpy(m.data(), allowed.value.data(), allowed.value.size());
    auto has = [&](CK_MECHANISM_TYPE t) { return std::find(m.begin(), m.end(), t) != m.end(); };
    pss = (has(CKM_SHA256_RSA_PKCS_PSS) || has(CKM_RSA_PKCS_PSS)) && !has(CKM_SHA256_RSA_PKCS);
  } else if (p11::session_lost(allowed.rv)) {
    rv = allowed.rv;
    return p11::ck_error("C_GetAttributeValue(CKA_ALLOWED_MECHANISMS)", rv);
  }
  if (bytes == 256) return pss ? Algorithm::kPS256 : Algorithm::kRS256;
  return pss ? Algorithm::kPS256_3072 : Algorithm::kRS256_3072;
}

Result<CachedKey> Pkcs11HsmImpl::private_key(CK_SESSION_HANDLE s, const std::string& id_norm, const Bytes& id,
                                             bool refresh, CK_RV& rv) {
  const uint64_t gen = module_->generation();
  if (!refresh) {
    std::lock_guard l(cache_mu_);
    if (auto it = cache_.find(id_norm); it != cache_.end() && it->second.generation == gen) return it->second;
  }
  auto found = p11::find_by_id(p11_, s, CKO_PRIVATE_KEY, id);
  if ((rv = found.rv) != CKR_OK) return p11::ck_error(found.call, rv);
  if (found.objects.empty()) {
    forget(id_norm);
    return NotFound("no private key with id " + id_norm + " in the token", "key_not_found");
  }
  if (found.objects.size() > 1) {
    return Internal(std::to_string(found.objects.size()) + " private keys share id " + id_norm, "hsm_error");
  }
  CachedKey k;
  k.handle = found.objects.front();
  k.generation = gen;
  ASSIGN_OR_RETURN(k.alg, key_algorithm(s, k.handle, rv));
  std::lock_guard l(cache_mu_);
  cache_[id_norm] = k;
  return k;
}

Result<Bytes> Pkcs11HsmImpl::read_public(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub, Algorithm alg, CK_RV& rv) {
  if (is_rsa(alg)) {
    auto n = p11::get_attribute(p11_, s, pub, CKA_MODULUS);
    if ((rv = n.rv) != CKR_OK) return p11::ck_error("C_GetAttributeValue(CKA_MODULUS)", rv);
    auto e = p11::get_attribute(p11_, s, pub, CKA_PUBLIC_EXPONENT);
    if ((rv = e.rv) != CKR_OK) return p11::ck_error("C_GetAttributeValue(CKA_PUBLIC_EXPONENT)", rv);
    Bytes modulus = strip_leading_zeros(n.value);
    if (modulus.size() != key_size_bytes(alg)) return Internal("token returned an RSA modulus of the wrong size", "hsm_error");
    auto spki = spki_from_rsa(modulus, strip_leading_zeros(e.value));
    if (!spki.ok()) return Internal("token returned an invalid RSA public key", "hsm_error");
    return spki;
  }
  auto point = p11::get_attribute(p11_, s, pub, CKA_EC_POINT);
  if ((rv = point.rv) != CKR_OK) return p11::ck_error("C_GetAttributeValue(CKA_EC_POINT)", rv);
  const size_t point_len = alg == Algorithm::kEdDSA ? 32 : 1 + 2 * key_size_bytes(alg);
  auto raw = ec_point_value(point.value, point_len);
  if (!raw) return Internal("token returned a malformed CKA_EC_POINT", "hsm_error");
  auto spki = alg == Algorithm::kEdDSA ? spki_from_ed25519(*raw) : spki_from_ec_point(alg, *raw);
  if (!spki.ok()) return Internal("token returned an invalid public key: " + spki.status().message(), "hsm_error");
  return spki;
}

Result<KeyInfo> Pkcs11HsmImpl::generate_key(Algorithm alg, std::string_view id_hex, std::string_view label) {
  if (std::find(supported_.begin(), supported_.end(), alg) == supported_.end()) {
    return InvalidArgument(std::string(algorithm_name(alg)) + " is not supported by this PKCS#11 module",
                           "algorithm_unsupported");
  }
  ASSIGN_OR_RETURN(Bytes id, parse_id(id_hex));
  const std::string id_norm = hex_encode(id);
  return run([&](CK_SESSION_HANDLE s, CK_RV& rv) -> Result<KeyInfo> {
    {
      auto existing = p11::find_keys_by_id(p11_, s, id);
      if ((rv = existing.rv) != CKR_OK) return p11::ck_error(existing.call, rv);
      if (!existing.objects.empty()) return AlreadyExists("a key with id " + id_norm + " exists", "key_exists");
    }
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_OBJECT_CLASS pub_class = CKO_PUBLIC_KEY, priv_class = CKO_PRIVATE_KEY;
    CK_ULONG bits = key_size_bytes(alg) * 8;
    CK_BYTE exponent[] = {0x01, 0x00, 0x01};
    std::vector<CK_MECHANISM_TYPE> allowed = allowed_mechanisms(alg);
    auto* id_ptr = id.data();
    auto* label_ptr = reinterpret_cast<CK_BYTE*>(const_cast<char*>(label.data()));
    std::vector<CK_ATTRIBUTE> pub = {
        {CKA_CLASS, &pub_class, sizeof pub_class}, {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &no, sizeof no},             {CKA_VERIFY, &yes, sizeof yes},
        {CKA_ENCRYPT, &no, sizeof no},             {CKA_WRAP, &no, sizeof no},
        {CKA_ID, id_ptr, id.size()},               {CKA_LABEL, label_ptr, label.size()},
    };
    std::vector<CK_ATTRIBUTE> priv = {
        {CKA_CLASS, &priv_class, sizeof priv_class},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_SENSITIVE, &yes, sizeof yes},
        {CKA_EXTRACTABLE, &no, sizeof no},
        {CKA_SIGN, &yes, sizeof yes},
        {CKA_DECRYPT, &no, sizeof no},
        {CKA_UNWRAP, &no, sizeof no},
        {CKA_DERIVE, &no, sizeof no},
        {CKA_ID, id_ptr, id.size()},
        {CKA_LABEL, label_ptr, label.size()},
        {CKA_ALLOWED_MECHANISMS, allowed.data(), allowed.size() * sizeof(CK_MECHANISM_TYPE)},
    };
    CK_MECHANISM mech{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
    if (is_ecdsa(alg)) {
      const Bytes& oid = alg == Algorithm::kES384 ? kP384Oid : kP256Oid;
      pub.push_back({CKA_EC_PARAMS, const_cast<uint8_t*>(oid.data()), oid.size()});
    } else if (alg == Algorithm::kEdDSA) {
      mech.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
      pub.push_back({CKA_EC_PARAMS, const_cast<uint8_t*>(kEd25519Oid.data()), kEd25519Oid.size()});
    } else {
      mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
      pub.push_back({CKA_MODULUS_BITS, &bits, sizeof bits});
      pub.push_back({CKA_PUBLIC_EXPONENT, exponent, sizeof exponent});
    }
    CK_OBJECT_HANDLE pub_h = CK_INVALID_HANDLE, priv_h = CK_INVALID_HANDLE;
    rv = p11_->C_GenerateKeyPair(s, &mech, pub.data(), pub.size(), priv.data(), priv.size(), &pub_h, &priv_h);
    if (rv != CKR_OK) return p11::ck_error("C_GenerateKeyPair", rv);
    p11::ObjectGuard pub_guard(p11_, s, pub_h), priv_guard(p11_, s, priv_h);
    KeyInfo info;
    info.id = id_norm;
    info.label = std::string(label);
    info.public_key.alg = alg;
    ASSIGN_OR_RETURN(info.public_key.spki_der, read_public(s, pub_h, alg, rv));
    pub_guard.release();
    CachedKey k{priv_guard.release(), alg, module_->generation()};
    std::lock_guard l(cache_mu_);
    cache_[id_norm] = k;
    return info;
  });
}

Result<std::vector<KeyInfo>> Pkcs11HsmImpl::list_keys(std::string_view label_prefix) {
  return run([&](CK_SESSION_HANDLE s, CK_RV& rv) -> Result<std::vector<KeyInfo>> {
    const uint64_t gen = module_->generation();
    // The private handles found on the way go into the signing cache (ids held by one private key
    // only; private_key() reports a duplicate): after the start-up repair's listing, no key's first
    // signature searches the token (a search reads every object file of a SoftHSM2 token).
    std::map<std::string, std::pair<CachedKey, int>> handles;
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}};
    auto found = p11::find_objects(p11_, s, tmpl, 1);
    if ((rv = found.rv) != CKR_OK) return p11::ck_error(found.call, rv);
    // Public halves by CKA_ID, found once: a C_FindObjects per key would scan the token per key
    // (quadratic start-up with thousands of keys).
    CK_OBJECT_CLASS pub_cls = CKO_PUBLIC_KEY;
    CK_ATTRIBUTE pub_tmpl[] = {{CKA_CLASS, &pub_cls, sizeof pub_cls}};
    auto pubs = p11::find_objects(p11_, s, pub_tmpl, 1);
    if ((rv = pubs.rv) != CKR_OK) return p11::ck_error(pubs.call, rv);
    std::map<Bytes, std::vector<CK_OBJECT_HANDLE>> pub_by_id;
    for (CK_OBJECT_HANDLE ph : pubs.objects) {
      auto pid = p11::get_attribute(p11_, s, ph, CKA_ID);
      if (pid.rv == CKR_OBJECT_HANDLE_INVALID) continue;
      if ((rv = pid.rv) != CKR_OK) return p11::ck_error("C_GetAttributeValue(CKA_ID)", rv);
      pub_by_id[pid.value].push_back(ph);
    }
    std::vector<KeyInfo> out;
    for (CK_OBJECT_HANDLE h : found.objects) {
      auto label = p11::get_attribute(p11_, s, h, CKA_LABEL);
      if (label.rv == CKR_OBJECT_HANDLE_INVALID) continue;  // destroyed meanwhile by someone else
      if ((rv = label.rv) != CKR_OK) return p11::ck_error("C_GetAttributeValue(CKA_LABEL)", rv);
      if (to_string(label.value).rfind(label_prefix, 0) != 0) continue;
      auto id = p11::get_attribute(p11_, s, h, CKA_ID);
      if (id.rv == CKR_OBJECT_HANDLE_INVALID) continue;
      if ((rv = id.rv) != CKR_OK) return p11::ck_error("C_GetAttributeValue(CKA_ID)", rv);
      if (id.value.empty()) continue;  // not a keymgr key
      auto alg = key_algorithm(s, h, rv);
      if (!alg.ok()) {
        if (alg.status().reason() == "algorithm_unsupported" || rv == CKR_OBJECT_HANDLE_INVALID) continue;
        return alg.status();
      }
      auto& seen = handles[hex_encode(id.value)];
      seen.first = CachedKey{h, *alg, gen};
      ++seen.second;
      auto pit = pub_by_id.find(id.value);
      if (pit == pub_by_id.end() || pit->second.size() != 1) {
        return Internal("expected one public key with id " + hex_encode(id.value) + ", found " +
                            std::to_string(pit == pub_by_id.end() ? 0 : pit->second.size()),
                        "hsm_error");
      }
      KeyInfo info;
      info.id = hex_encode(id.value);
      info.label = to_string(label.value);
      info.public_key.alg = *alg;
      auto spki = read_public(s, pit->second.front(), *alg, rv);
      if (!spki.ok()) {
        if (rv == CKR_OBJECT_HANDLE_INVALID) continue;
        return spki.status();
      }
      info.public_key.spki_der = std::move(spki).value();
      out.push_back(std::move(info));
    }
    rv = CKR_OK;
    {
      std::lock_guard l(cache_mu_);
      for (const auto& [id_norm, seen] : handles) {
        if (seen.second == 1) cache_.try_emplace(id_norm, seen.first);
      }
    }
    std::sort(out.begin(), out.end(), [](const KeyInfo& a, const KeyInfo& b) {
      return std::tie(a.label, a.id) < std::tie(b.label, b.id);
    });
    return out;
  });
}

Result<Bytes> Pkcs11HsmImpl::sign_once(CK_SESSION_HANDLE s, const CachedKey& key, Algorithm alg, const Bytes& data,
                                       CK_RV& rv) {
  CK_RSA_PKCS_PSS_PARAMS pss{CKM_SHA256, CKG_MGF1_SHA256, 32};
  CK_MECHANISM mech{CKM_ECDSA, nullptr, 0};
  if (alg == Algorithm::kEdDSA) {
    mech.mechanism = CKM_EDDSA;
  } else if (is_pss(alg)) {
    mech = {static_cast<CK_MECHANISM_TYPE>(pss_combined_ ? CKM_SHA256_RSA_PKCS_PSS : CKM_RSA_PKCS_PSS), &pss,
            sizeof pss};
  } else if (is_rsa(alg)) {
    mech.mechanism = CKM_SHA256_RSA_PKCS;
  }
  if ((rv = p11_->C_SignInit(s, &mech, key.handle)) != CKR_OK) return p11::ck_error("C_SignInit", rv);
  // Pre-sized for the largest signature: no C_Sign(NULL) size round-trip.
  CK_BYTE sig[512];
  CK_ULONG len = sizeof sig;
  rv = p11_->C_Sign(s, const_cast<CK_BYTE*>(data.data()), data.size(), sig, &len);
  if (rv != CKR_OK) return p11::ck_error("C_Sign", rv);
  if (len != signature_size(alg)) {
    return Internal("C_Sign returned " + std::to_string(len) + " bytes, expected " +
                        std::to_string(signature_size(alg)),
                    "hsm_error");
  }
  return Bytes(sig, sig + len);
}

Result<Bytes> Pkcs11HsmImpl::sign(std::string_view id_hex, Algorithm alg, std::string_view signing_input) {
  ASSIGN_OR_RETURN(Bytes id, parse_id(id_hex));
  const std::string id_norm = hex_encode(id);
  // SoftHSM has no CKM_ECDSA_SHA256: ECDSA (and PSS without the combined mechanism) sign a
  // digest computed here; the digest is public data, so nothing is lost by hashing host-side.
  Bytes data;
  if (alg == Algorithm::kES384) data = sha384(signing_input);
  else if (is_ecdsa(alg) || (is_pss(alg) && !pss_combined_)) data = sha256(signing_input);
  else data = to_bytes(signing_input);
  auto in_token = [&](CK_SESSION_HANDLE s, CK_RV& rv) -> Result<Bytes> {
    for (bool refresh : {false, true}) {
      ASSIGN_OR_RETURN(CachedKey k, private_key(s, id_norm, id, refresh, rv));
      if (k.alg != alg) {
        return InvalidArgument("key " + id_norm + " is " + std::string(algorithm_name(k.alg)) + ", not " +
                                   std::string(algorithm_name(alg)),
                               "algorithm_mismatch");
      }
      auto sig = sign_once(s, k, alg, data, rv);
      // A handle found once is reused; if the object went away (another process destroyed or
      // re-created it) look it up again, once.
      if (!refresh && (rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_KEY_HANDLE_INVALID)) {
        forget(id_norm);
        continue;
      }
      return sig;
    }
    return Internal("unreachable", "hsm_error");
  };
  return looking_twice([&] { return run(in_token); });
}

Status Pkcs11HsmImpl::destroy_key(std::string_view id_hex) {
  ASSIGN_OR_RETURN(Bytes id, parse_id(id_hex));
  const std::string id_norm = hex_encode(id);
  forget(id_norm);
  auto in_token = [&](CK_SESSION_HANDLE s, CK_RV& rv) -> Status {
    // Private half first (find_keys_by_id's order): once it is gone the key can no longer sign,
    // whatever happens next.
    auto found = p11::find_keys_by_id(p11_, s, id);
    if ((rv = found.rv) != CKR_OK) return p11::ck_error(found.call, rv);
    const std::vector<CK_OBJECT_HANDLE>& victims = found.objects;
    if (victims.empty()) return NotFound("no key with id " + id_norm + " in the token", "key_not_found");
    for (CK_OBJECT_HANDLE h : victims) {
      rv = p11_->C_DestroyObject(s, h);
      if (rv == CKR_OBJECT_HANDLE_INVALID) continue;  // someone else destroyed it first
      if (rv != CKR_OK) return p11::ck_error("C_DestroyObject", rv);
    }
    rv = CKR_OK;
    forget(id_norm);
    return Status::Ok();
  };
  return looking_twice([&] { return run(in_token); });
}

Status Pkcs11HsmImpl::health() {
  return run([&](CK_SESSION_HANDLE s, CK_RV& rv) -> Status {
    CK_SESSION_INFO info{};
    if ((rv = p11_->C_GetSessionInfo(s, &info)) != CKR_OK) return p11::ck_error("C_GetSessionInfo", rv);
    if (info.state != CKS_RW_USER_FUNCTIONS && info.state != CKS_RO_USER_FUNCTIONS) {
      rv = CKR_USER_NOT_LOGGED_IN;
      return Unavailable("HSM session is not logged in", "hsm_unavailable");
    }
    return Status::Ok();
  });
}

}  // namespace

Result<std::unique_ptr<Hsm>> open_pkcs11_hsm(Pkcs11Options options) {
  if (options.pool_size < 1 || options.pool_size > 64) {
    return InvalidArgument("PKCS#11 pool_size must be 1..64", "hsm_config");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<p11::Module> module, p11::Module::load(options.module_path));
  const CK_FUNCTION_LIST* fl = module->functions();
  if (options.function_list_hook) {
    fl = static_cast<const CK_FUNCTION_LIST*>(options.function_list_hook(module->functions()));
    if (fl == nullptr) return InvalidArgument("function_list_hook returned null", "hsm_config");
  }
  auto pool = std::make_unique<SessionPool>(module, fl, p11::TokenSelector{options.token_label, options.token_serial},
                                            std::move(options.pin), options.pool_size, options.acquire_timeout);
  RETURN_IF_ERROR(pool->start());
  auto hsm = std::make_unique<Pkcs11HsmImpl>(module, fl, std::move(pool));
  RETURN_IF_ERROR(hsm->load_mechanisms());
  return std::unique_ptr<Hsm>(std::move(hsm));
}

}  // namespace keymgr::hsm
