// Signature checks for tests that do not go through hsm::verify_jws_signature: a second,
// independent path through OpenSSL (raw r||s re-encoded as DER with ECDSA_SIG).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "common/encoding.h"
#include "common/types.h"

namespace keymgr::testing {

::testing::AssertionResult OpensslVerifies(const Bytes& spki_der, Algorithm alg, std::string_view input,
                                           const Bytes& sig);

// "b64(header).b64(payload)" with header {"alg":..,"kid":..,"typ":"JWT"}.
std::string jws_signing_input(Algorithm alg, const std::string& kid, const std::string& payload_json);

}  // namespace keymgr::testing
