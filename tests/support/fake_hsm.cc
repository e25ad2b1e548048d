#include "tests/support/fake_hsm.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>

#include "hsm/public_key.h"

namespace keymgr::testing {
namespace {

struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct MdCtxFree { void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); } };

Pkey generate(Algorithm alg) {
  EVP_PKEY* k = nullptr;
  switch (alg) {
    case Algorithm::kES256: k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"); break;
    case Algorithm::kES384: k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"); break;
    case Algorithm::kEdDSA: k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"); break;
    default: k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(hsm::key_size_bytes(alg) * 8)); break;
  }
  return Pkey(k);
}

Bytes spki_of(EVP_PKEY* k) {
  unsigned char* out = nullptr;
  int n = i2d_PUBKEY(k, &out);
  if (n <= 0) return {};
  Bytes b(out, out + n);
  OPENSSL_free(out);
  return b;
}

// DER ECDSA-Sig-Value -> raw fixed-length r||s, the JWS form the HSM returns.
std::optional<Bytes> der_to_raw(const Bytes& der, size_t L) {
  const unsigned char* p = der.data();
  ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (!s) return std::nullopt;
  Bytes out(2 * L);
  bool ok = BN_bn2binpad(ECDSA_SIG_get0_r(s), out.data(), static_cast<int>(L)) == static_cast<int>(L) &&
            BN_bn2binpad(ECDSA_SIG_get0_s(s), out.data() + L, static_cast<int>(L)) == static_cast<int>(L);
  ECDSA_SIG_free(s);
  if (!ok) return std::nullopt;
  return out;
}

Result<Bytes> parse_id(std::string_view id_hex) {
  auto id = hex_decode(id_hex);
  if (!id || id->empty() || id->size() > 128) {
    return InvalidArgument("key id must be non-empty hex (at most 128 bytes), got '" + std::string(id_hex) + "'",
                           "invalid_key_id");
  }
  return *id;
}

}  // namespace

struct FakeHsm::Key {
  hsm::KeyInfo info;
  Pkey pkey;
};

FakeHsm::FakeHsm() : supported_(std::begin(kAllAlgorithms), std::end(kAllAlgorithms)) {}
FakeHsm::~FakeHsm() = default;

void FakeHsm::set_unavailable(bool unavailable) {
  std::lock_guard l(mu_);
  unavailable_ = unavailable;
}

void FakeHsm::fail_next_generate(int n, Status status) {
  std::lock_guard l(mu_);
  fail_generate_ = n;
  fail_generate_status_ = std::move(status);
}

void FakeHsm::fail_next_sign(int n, Status status) {
  std::lock_guard l(mu_);
  fail_sign_ = n;
  fail_sign_status_ = std::move(status);
}

void FakeHsm::set_supported_algorithms(std::vector<Algorithm> algs) {
  std::sort(algs.begin(), algs.end());
  std::lock_guard l(mu_);
  supported_ = std::move(algs);
}

size_t FakeHsm::key_count() const {
  std::lock_guard l(mu_);
  return keys_.size();
}

Status FakeHsm::unavailable_status() const {
  return Unavailable("C_OpenSession: CKR_DEVICE_REMOVED (fake HSM switched off)", "hsm_unavailable");
}

std::vector<Algorithm> FakeHsm::supported_algorithms() const {
  std::lock_guard l(mu_);
  return supported_;
}

Result<hsm::KeyInfo> FakeHsm::generate_key(Algorithm alg, std::string_view id_hex, std::string_view label) {
  ++generate_calls_;
  {
    std::lock_guard l(mu_);
    if (std::find(supported_.begin(), supported_.end(), alg) == supported_.end()) {
      return InvalidArgument(std::string(algorithm_name(alg)) + " is not supported by this PKCS#11 module",
                             "algorithm_unsupported");
    }
  }
  ASSIGN_OR_RETURN(Bytes id, parse_id(id_hex));
  const std::string id_norm = hex_encode(id);
  {
    std::lock_guard l(mu_);
    if (unavailable_) return unavailable_status();
    if (keys_.count(id_norm)) return AlreadyExists("a key with id " + id_norm + " exists", "key_exists");
    if (fail_generate_ > 0) {
      --fail_generate_;
      return fail_generate_status_;
    }
  }
  // Generated outside the lock: RSA takes a while and other calls should not wait for it.
  auto key = std::make_shared<Key>();
  key->pkey = generate(alg);
  if (!key->pkey) return Internal("C_GenerateKeyPair: CKR_FUNCTION_FAILED (OpenSSL keygen)", "hsm_error");
  key->info = hsm::KeyInfo{id_norm, std::string(label), hsm::PublicKey{alg, spki_of(key->pkey.get())}};
  std::lock_guard l(mu_);
  if (unavailable_) return unavailable_status();
  if (!keys_.emplace(id_norm, key).second) return AlreadyExists("a key with id " + id_norm + " exists", "key_exists");
  return key->info;
}

Result<std::vector<hsm::KeyInfo>> FakeHsm::list_keys(std::string_view label_prefix) {
  std::lock_guard l(mu_);
  if (unavailable_) return unavailable_status();
  std::vector<hsm::KeyInfo> out;
  for (const auto& [id, key] : keys_) {
    if (hidden_.count(id) != 0) continue;
    if (key->info.label.rfind(label_prefix, 0) == 0) out.push_back(key->info);
  }
  std::sort(out.begin(), out.end(), [](const hsm::KeyInfo& a, const hsm::KeyInfo& b) {
    return std::tie(a.label, a.id) < std::tie(b.label, b.id);
  });
  return out;
}

Result<Bytes> FakeHsm::sign(std::string_view id_hex, Algorithm alg, std::string_view signing_input) {
  ++sign_calls_;
  ASSIGN_OR_RETURN(Bytes id, parse_id(id_hex));
  const std::string id_norm = hex_encode(id);
  std::shared_ptr<Key> key;
  {
    std::lock_guard l(mu_);
    if (unavailable_) return unavailable_status();
    if (fail_sign_ > 0) {
      --fail_sign_;
      return fail_sign_status_;
    }
    if (hidden_.count(id_norm) != 0) hidden_.clear();  // missed by the stale view: refreshed, as PKCS#11 does
    auto it = keys_.find(id_norm);
    if (it == keys_.end()) return NotFound("no private key with id " + id_norm + " in the token", "key_not_found");
    key = it->second;
  }
  const Algorithm key_alg = key->info.public_key.alg;
  if (key_alg != alg) {
    return InvalidArgument("key " + id_norm + " is " + std::string(algorithm_name(key_alg)) + ", not " +
                               std::string(algorithm_name(alg)),
                           "algorithm_mismatch");
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  const EVP_MD* md = alg == Algorithm::kEdDSA ? nullptr : alg == Algorithm::kES384 ? EVP_sha384() : EVP_sha256();
  if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, key->pkey.get()) != 1) {
    return Internal("C_SignInit: CKR_FUNCTION_FAILED (OpenSSL)", "hsm_error");
  }
  if (hsm::is_pss(alg)) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1) {
      return Internal("C_SignInit: CKR_MECHANISM_PARAM_INVALID (OpenSSL)", "hsm_error");
    }
  }
  size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(signing_input.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &len, in, signing_input.size()) != 1) {
    return Internal("C_Sign: CKR_FUNCTION_FAILED (OpenSSL)", "hsm_error");
  }
  Bytes sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, in, signing_input.size()) != 1) {
    return Internal("C_Sign: CKR_FUNCTION_FAILED (OpenSSL)", "hsm_error");
  }
  sig.resize(len);
  if (hsm::is_ecdsa(alg)) {
    auto raw = der_to_raw(sig, hsm::key_size_bytes(alg));
    if (!raw) return Internal("C_Sign: CKR_FUNCTION_FAILED (ECDSA encoding)", "hsm_error");
    sig = std::move(*raw);
  }
  ++successful_signs_;
  return sig;
}

Status FakeHsm::destroy_key(std::string_view id_hex) {
  ASSIGN_OR_RETURN(Bytes id, parse_id(id_hex));
  const std::string id_norm = hex_encode(id);
  std::lock_guard l(mu_);
  if (unavailable_) return unavailable_status();
  if (hidden_.count(id_norm) != 0) hidden_.clear();
  if (keys_.erase(id_norm) == 0) return NotFound("no key with id " + id_norm + " in the token", "key_not_found");
  return Status::Ok();
}

Status FakeHsm::refresh_view() {
  ++refresh_calls_;
  std::lock_guard l(mu_);
  if (unavailable_) return unavailable_status();
  if (fail_refresh_ > 0) {
    --fail_refresh_;
    return Unavailable("PKCS#11 library not re-initialised: calls in progress did not finish (injected)",
                       "hsm_unavailable");
  }
  hidden_.clear();
  return Status::Ok();
}

void FakeHsm::fail_next_refresh(int n) {
  std::lock_guard l(mu_);
  fail_refresh_ = n;
}

void FakeHsm::hide_until_refresh(std::string_view id_hex) {
  auto id = parse_id(id_hex);
  std::lock_guard l(mu_);
  if (id.ok()) hidden_.insert(hex_encode(*id));
}

Status FakeHsm::health() {
  std::lock_guard l(mu_);
  if (unavailable_) return unavailable_status();
  return Status::Ok();
}

}  // namespace keymgr::testing
