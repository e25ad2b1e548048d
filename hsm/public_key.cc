#include "hsm/public_key.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <memory>

#include "common/crypto.h"

namespace keymgr::hsm {
namespace {

struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct PkeyCtxFree { void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); } };
struct MdCtxFree { void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); } };
struct BnFree { void operator()(BIGNUM* p) const { BN_free(p); } };
struct ParamBldFree { void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); } };
struct ParamFree { void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); } };
struct GroupFree { void operator()(EC_GROUP* p) const { EC_GROUP_free(p); } };
struct EcdsaSigFree { void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); } };
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bn = std::unique_ptr<BIGNUM, BnFree>;

const char* curve_group(Algorithm alg) { return alg == Algorithm::kES384 ? "secp384r1" : "prime256v1"; }
const char* jwk_crv(Algorithm alg) { return alg == Algorithm::kES384 ? "P-384" : "P-256"; }

Status bad_key(std::string msg) { return InvalidArgument(std::move(msg), "invalid_public_key"); }
Status bad_jwk(std::string msg) { return InvalidArgument("JWK: " + msg, "invalid_jwk"); }
Status bad_sig(std::string msg) { return InvalidArgument(std::move(msg), "bad_signature"); }

Pkey parse_spki(const Bytes& der) {
  const unsigned char* p = der.data();
  Pkey k(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (k && p != der.data() + der.size()) k.reset();  // trailing garbage
  return k;
}

Result<Bytes> to_spki(EVP_PKEY* k) {
  unsigned char* out = nullptr;
  int n = i2d_PUBKEY(k, &out);
  if (n <= 0) return bad_key("i2d_PUBKEY failed");
  Bytes b(out, out + n);
  OPENSSL_free(out);
  return b;
}

Result<Pkey> from_params(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    return bad_key(std::string(type) + " public key rejected by OpenSSL");
  }
  return Pkey(raw);
}

Result<Pkey> ec_pkey(Algorithm alg, const Bytes& point) {
  const size_t L = key_size_bytes(alg);
  if (point.size() != 1 + 2 * L || point[0] != 0x04) return bad_key("EC point must be uncompressed, 1+2*" + std::to_string(L) + " bytes");
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve_group(alg), 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size())) {
    return bad_key("OSSL_PARAM_BLD failed");
  }
  ASSIGN_OR_RETURN(Pkey k, from_params("EC", bld.get()));
  // Off-curve points must never become keys: invalid-curve attacks start there.
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> chk(EVP_PKEY_CTX_new_from_pkey(nullptr, k.get(), nullptr));
  if (!chk || EVP_PKEY_public_check(chk.get()) != 1) return bad_key("EC point is not on the curve");
  return k;
}

Result<Pkey> rsa_pkey(const Bytes& n, const Bytes& e) {
  Bn bn_n(BN_bin2bn(n.data(), static_cast<int>(n.size()), nullptr));
  Bn bn_e(BN_bin2bn(e.data(), static_cast<int>(e.size()), nullptr));
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get())) {
    return bad_key("OSSL_PARAM_BLD failed");
  }
  return from_params("RSA", bld.get());
}

Bytes bn_param(const EVP_PKEY* k, const char* name, size_t pad) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(k, name, &raw) != 1) return {};
  Bn bn(raw);
  size_t len = pad ? pad : static_cast<size_t>(BN_num_bytes(bn.get()));
  if (static_cast<size_t>(BN_num_bytes(bn.get())) > len) return {};
  Bytes out(len);
  if (BN_bn2binpad(bn.get(), out.data(), static_cast<int>(len)) < 0) return {};
  return out;
}

std::string group_name(const EVP_PKEY* k) {
  char name[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) != 1) return "";
  return std::string(name, len);
}

// Checks that `k` is a key for `alg`.
Status key_fits(const EVP_PKEY* k, Algorithm alg) {
  if (is_ecdsa(alg)) {
    if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC || group_name(k) != curve_group(alg)) {
      return bad_sig("key is not an " + std::string(jwk_crv(alg)) + " key");
    }
  } else if (is_rsa(alg)) {
    if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) return bad_sig("key is not an RSA key");
    if (static_cast<size_t>(EVP_PKEY_get_size(k)) != key_size_bytes(alg)) {
      return bad_sig("RSA key size does not match " + std::string(algorithm_name(alg)));
    }
  } else if (EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519) {
    return bad_sig("key is not an Ed25519 key");
  }
  return Status::Ok();
}

std::optional<Bytes> b64_member(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return base64url_decode(it->get<std::string>());
}

bool string_member_is(const nlohmann::json& j, const char* name, std::string_view want) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() && it->get<std::string>() == want;
}

// Raw r||s -> DER ECDSA-Sig-Value, refusing r or s outside [1, n-1].
Result<Bytes> ecdsa_raw_to_der(Algorithm alg, const Bytes& sig) {
  const size_t L = key_size_bytes(alg);
  if (sig.size() != 2 * L) return bad_sig("ECDSA signature must be raw r||s of " + std::to_string(2 * L) + " bytes");
  std::unique_ptr<EC_GROUP, GroupFree> group(
      EC_GROUP_new_by_curve_name(alg == Algorithm::kES384 ? NID_secp384r1 : NID_X9_62_prime256v1));
  if (!group) return bad_sig("EC group unavailable");
  const BIGNUM* order = EC_GROUP_get0_order(group.get());
  Bn r(BN_bin2bn(sig.data(), static_cast<int>(L), nullptr));
  Bn s(BN_bin2bn(sig.data() + L, static_cast<int>(L), nullptr));
  if (!r || !s) return bad_sig("BN_bin2bn failed");
  if (BN_is_zero(r.get()) || BN_is_zero(s.get()) || BN_cmp(r.get(), order) >= 0 || BN_cmp(s.get(), order) >= 0) {
    return bad_sig("ECDSA r or s out of range");
  }
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> es(ECDSA_SIG_new());
  if (!es || ECDSA_SIG_set0(es.get(), r.get(), s.get()) != 1) return bad_sig("ECDSA_SIG_set0 failed");
  r.release();
  s.release();
  unsigned char* der = nullptr;
  int n = i2d_ECDSA_SIG(es.get(), &der);
  if (n <= 0) return bad_sig("i2d_ECDSA_SIG failed");
  Bytes out(der, der + n);
  OPENSSL_free(der);
  return out;
}

}  // namespace

bool is_ecdsa(Algorithm alg) { return alg == Algorithm::kES256 || alg == Algorithm::kES384; }
bool is_rsa(Algorithm alg) {
  return alg == Algorithm::kRS256 || alg == Algorithm::kRS256_3072 || alg == Algorithm::kPS256 ||
         alg == Algorithm::kPS256_3072;
}
bool is_pss(Algorithm alg) { return alg == Algorithm::kPS256 || alg == Algorithm::kPS256_3072; }

size_t key_size_bytes(Algorithm alg) {
  switch (alg) {
    case Algorithm::kES256: return 32;
    case Algorithm::kES384: return 48;
    case Algorithm::kRS256:
    case Algorithm::kPS256: return 256;
    case Algorithm::kRS256_3072:
    case Algorithm::kPS256_3072: return 384;
    case Algorithm::kEdDSA: return 32;
  }
  return 0;
}

size_t signature_size(Algorithm alg) { return is_rsa(alg) ? key_size_bytes(alg) : 2 * key_size_bytes(alg); }

Result<Bytes> spki_from_ec_point(Algorithm alg, const Bytes& point) {
  if (!is_ecdsa(alg)) return bad_key("not an ECDSA algorithm");
  ASSIGN_OR_RETURN(Pkey k, ec_pkey(alg, point));
  return to_spki(k.get());
}

Result<Bytes> spki_from_rsa(const Bytes& n, const Bytes& e) {
  if (n.empty() || e.empty()) return bad_key("empty RSA modulus or exponent");
  ASSIGN_OR_RETURN(Pkey k, rsa_pkey(n, e));
  return to_spki(k.get());
}

Result<Bytes> spki_from_ed25519(const Bytes& raw) {
  if (raw.size() != 32) return bad_key("Ed25519 public key must be 32 bytes");
  Pkey k(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size()));
  if (!k) return bad_key("Ed25519 public key rejected by OpenSSL");
  return to_spki(k.get());
}

nlohmann::json public_jwk(const PublicKey& key) {
  Pkey k = parse_spki(key.spki_der);
  if (!k) return nlohmann::json::object();
  switch (EVP_PKEY_get_base_id(k.get())) {
    case EVP_PKEY_EC: {
      std::string g = group_name(k.get());
      size_t L = g == "prime256v1" ? 32 : g == "secp384r1" ? 48 : 0;
      if (L == 0) break;
      Bytes x = bn_param(k.get(), OSSL_PKEY_PARAM_EC_PUB_X, L);
      Bytes y = bn_param(k.get(), OSSL_PKEY_PARAM_EC_PUB_Y, L);
      if (x.empty() || y.empty()) break;
      return {{"kty", "EC"}, {"crv", L == 32 ? "P-256" : "P-384"}, {"x", base64url_encode(x)}, {"y", base64url_encode(y)}};
    }
    case EVP_PKEY_RSA: {
      Bytes n = bn_param(k.get(), OSSL_PKEY_PARAM_RSA_N, 0);
      Bytes e = bn_param(k.get(), OSSL_PKEY_PARAM_RSA_E, 0);
      if (n.empty() || e.empty()) break;
      return {{"kty", "RSA"}, {"n", base64url_encode(n)}, {"e", base64url_encode(e)}};
    }
    case EVP_PKEY_ED25519: {
      Bytes x(32);
      size_t len = x.size();
      if (EVP_PKEY_get_raw_public_key(k.get(), x.data(), &len) != 1 || len != 32) break;
      return {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", base64url_encode(x)}};
    }
    default:
      break;
  }
  return nlohmann::json::object();
}

std::string jwk_thumbprint(const nlohmann::json& jwk) {
  if (!jwk.is_object()) return "";
  auto kty = jwk.find("kty");
  if (kty == jwk.end() || !kty->is_string()) return "";
  std::vector<const char*> members;
  const std::string t = kty->get<std::string>();
  if (t == "EC") members = {"crv", "kty", "x", "y"};
  else if (t == "RSA") members = {"e", "kty", "n"};
  else if (t == "OKP") members = {"crv", "kty", "x"};
  else return "";
  // nlohmann's default object is an ordered std::map and dump() emits no whitespace: exactly
  // the RFC 7638 canonical form for these string-only members.
  nlohmann::json canon = nlohmann::json::object();
  for (const char* m : members) {
    auto it = jwk.find(m);
    if (it == jwk.end() || !it->is_string()) return "";
    canon[m] = *it;
  }
  return base64url_encode(sha256(canon.dump()));
}

Result<PublicKey> public_key_from_jwk(const nlohmann::json& jwk, Algorithm alg) {
  if (!jwk.is_object()) return bad_jwk("not a JSON object");
  for (const char* priv : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}) {
    if (jwk.contains(priv)) return bad_jwk(std::string("private member '") + priv + "' present");
  }
  PublicKey out{alg, {}};
  if (is_ecdsa(alg)) {
    if (!string_member_is(jwk, "kty", "EC")) return bad_jwk("kty must be EC for " + std::string(jws_alg(alg)));
    if (!string_member_is(jwk, "crv", jwk_crv(alg))) return bad_jwk(std::string("crv must be ") + jwk_crv(alg));
    auto x = b64_member(jwk, "x");
    auto y = b64_member(jwk, "y");
    const size_t L = key_size_bytes(alg);
    if (!x || !y || x->size() != L || y->size() != L) {
      return bad_jwk("x and y must be base64url of " + std::to_string(L) + " bytes");
    }
    Bytes point{0x04};
    point.insert(point.end(), x->begin(), x->end());
    point.insert(point.end(), y->begin(), y->end());
    auto spki = spki_from_ec_point(alg, point);
    if (!spki.ok()) return bad_jwk(spki.status().message());
    out.spki_der = std::move(spki).value();
  } else if (is_rsa(alg)) {
    if (!string_member_is(jwk, "kty", "RSA")) return bad_jwk("kty must be RSA");
    auto n = b64_member(jwk, "n");
    auto e = b64_member(jwk, "e");
    if (!n || !e || n->empty() || e->empty()) return bad_jwk("n and e must be base64url");
    if ((*n)[0] == 0 || (*e)[0] == 0) return bad_jwk("n and e must be minimal (no leading zero)");
    if (n->size() != key_size_bytes(alg)) {
      return bad_jwk("modulus must be " + std::to_string(key_size_bytes(alg) * 8) + " bits for " +
                     std::string(algorithm_name(alg)));
    }
    if (e->size() > 8 || (e->back() & 1) == 0) return bad_jwk("implausible public exponent");
    auto spki = spki_from_rsa(*n, *e);
    if (!spki.ok()) return bad_jwk(spki.status().message());
    out.spki_der = std::move(spki).value();
  } else {
    if (!string_member_is(jwk, "kty", "OKP")) return bad_jwk("kty must be OKP for EdDSA");
    if (!string_member_is(jwk, "crv", "Ed25519")) return bad_jwk("crv must be Ed25519");
    auto x = b64_member(jwk, "x");
    if (!x || x->size() != 32) return bad_jwk("x must be base64url of 32 bytes");
    auto spki = spki_from_ed25519(*x);
    if (!spki.ok()) return bad_jwk(spki.status().message());
    out.spki_der = std::move(spki).value();
  }
  return out;
}

Status verify_jws_signature(const PublicKey& key, Algorithm alg, std::string_view signing_input, const Bytes& sig) {
  ASSIGN_OR_RETURN(auto v, JwsVerifier::create(key, alg));
  return v->verify(signing_input, sig);
}

Result<std::shared_ptr<const JwsVerifier>> JwsVerifier::create(const PublicKey& key, Algorithm alg) {
  Pkey k = parse_spki(key.spki_der);
  if (!k) return bad_sig("public key is not a valid SubjectPublicKeyInfo");
  RETURN_IF_ERROR(key_fits(k.get(), alg));
  std::shared_ptr<evp_pkey_st> shared(k.release(), PkeyFree());
  return std::shared_ptr<const JwsVerifier>(new JwsVerifier(std::move(shared), alg));
}

Status JwsVerifier::verify(std::string_view signing_input, const Bytes& sig) const {
  const Algorithm alg = alg_;
  Bytes to_verify = sig;
  const EVP_MD* md = nullptr;
  if (is_ecdsa(alg)) {
    ASSIGN_OR_RETURN(to_verify, ecdsa_raw_to_der(alg, sig));
    md = alg == Algorithm::kES384 ? EVP_sha384() : EVP_sha256();
  } else if (is_rsa(alg)) {
    if (sig.size() != key_size_bytes(alg)) return bad_sig("RSA signature has the wrong length");
    md = EVP_sha256();
  } else if (sig.size() != 64) {
    return bad_sig("Ed25519 signature must be 64 bytes");
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  // EVP_DigestVerifyInit only reads the key (it takes a reference): concurrent verifications
  // with one EVP_PKEY are safe in OpenSSL 3.
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key_.get()) != 1) {
    return bad_sig("EVP_DigestVerifyInit failed");
  }
  if (is_pss(alg)) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1) {
      return bad_sig("PSS parameters rejected");
    }
  } else if (is_rsa(alg)) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) return bad_sig("PKCS#1 padding rejected");
  }
  int rc = EVP_DigestVerify(ctx.get(), to_verify.data(), to_verify.size(),
                            reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size());
  if (rc != 1) return bad_sig(std::string(jws_alg(alg)) + " signature does not verify");
  return Status::Ok();
}

}  // namespace keymgr::hsm
