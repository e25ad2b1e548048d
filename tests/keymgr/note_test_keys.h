// Test signers for signed notes: Ed25519 private keys held by OpenSSL in the test process (the
// format tests need no HSM; cosigners are witnesses, not keymgr). Test-only, header-only.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>

#include "common/encoding.h"
#include "common/status.h"
#include "hsm/public_key.h"
#include "keymgr/signed_note.h"

namespace keymgr::testing {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};

// An Ed25519 key pair; seed = the 32-byte RFC 8032 private key (random when empty).
class Ed25519TestKey {
 public:
  explicit Ed25519TestKey(const Bytes& seed = {}) {
    if (seed.empty()) {
      EVP_PKEY* raw = nullptr;
      std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr),
                                                                       EVP_PKEY_CTX_free);
      if (ctx && EVP_PKEY_keygen_init(ctx.get()) == 1 && EVP_PKEY_keygen(ctx.get(), &raw) == 1) key_.reset(raw);
    } else {
      key_.reset(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
    }
    Bytes pub(32);
    size_t len = pub.size();
    if (key_ && EVP_PKEY_get_raw_public_key(key_.get(), pub.data(), &len) == 1) {
      raw_public_ = pub;
      auto spki = hsm::spki_from_ed25519(pub);
      if (spki.ok()) public_ = {Algorithm::kEdDSA, *spki};
    }
  }

  bool ok() const { return key_ != nullptr && !public_.spki_der.empty(); }
  const hsm::PublicKey& public_key() const { return public_; }
  const Bytes& raw_public() const { return raw_public_; }

  Result<Bytes> sign(std::string_view msg) const {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    Bytes sig(64);
    size_t len = sig.size();
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
        EVP_DigestSign(ctx.get(), sig.data(), &len, reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) != 1) {
      return Internal("EVP_DigestSign failed");
    }
    return sig;
  }
  note::SignFn signer() const {
    return [this](std::string_view m) { return sign(m); };
  }

 private:
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key_;
  hsm::PublicKey public_{Algorithm::kEdDSA, {}};
  Bytes raw_public_;
};

}  // namespace keymgr::testing
