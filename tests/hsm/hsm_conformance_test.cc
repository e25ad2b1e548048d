// The hsm::Hsm contract (hsm/hsm.h, hsm/pkcs11_hsm.h), one suite run against every implementation:
// the in-memory FakeHsm that the domain tests use, a real SoftHSM2 token, and SoftHSM2 behind
// with_deadlines() as the product composes it. Same inputs, same answers: results, sort order,
// error codes and reasons. What only the fake can do (fault switches) is in fake_hsm_test.cc.
//
// Each test gets a fresh, empty HSM (a new SoftHSM2 token per test).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "hsm/deadline_hsm.h"
#include "hsm/hsm.h"
#include "hsm/pkcs11_hsm.h"
#include "hsm/public_key.h"
#include "tests/hsm/test_verify.h"
#include "tests/support/fake_hsm.h"
#include "tests/support/sanitizers.h"
#include "tests/support/softhsm_token.h"

namespace keymgr::testing {
namespace {

// One implementation, opened fresh. Members are destroyed in reverse order: the Hsm closes before
// its token directory is removed.
struct HsmUnderTest {
  std::unique_ptr<SoftHsmToken> token;  // SoftHSM2 backends only
  std::unique_ptr<hsm::Hsm> hsm;
};

struct Backend {
  std::string name;
  bool softhsm;  // signs through SoftHSM2 (see tests/support/sanitizers.h)
  std::function<Status(HsmUnderTest&)> open;
};

Status open_softhsm(HsmUnderTest& t) {
  t.token = std::make_unique<SoftHsmToken>("km-conformance");
  if (!t.token->ok()) return Internal("SoftHSM2 token: " + t.token->error());
  ASSIGN_OR_RETURN(t.hsm, hsm::open_pkcs11_hsm(t.token->options()));
  return Status::Ok();
}

const Backend kBackends[] = {
    {"FakeHsm", false,
     [](HsmUnderTest& t) {
       t.hsm = std::make_unique<FakeHsm>();
       return Status::Ok();
     }},
    {"SoftHsm2", true, open_softhsm},
    {"SoftHsm2WithDeadlines", true,
     [](HsmUnderTest& t) {
       RETURN_IF_ERROR(open_softhsm(t));
       t.hsm = hsm::with_deadlines(std::move(t.hsm), hsm::DeadlineOptions{});
       return Status::Ok();
     }},
};

void PrintTo(const Backend& b, std::ostream* os) { *os << b.name; }

// The error an implementation must answer, written once for every backend.
struct Expected {
  ErrorCode code;
  const char* reason;
};
constexpr Expected kKeyNotFound{ErrorCode::kNotFound, "key_not_found"};
constexpr Expected kKeyExists{ErrorCode::kAlreadyExists, "key_exists"};
constexpr Expected kInvalidKeyId{ErrorCode::kInvalidArgument, "invalid_key_id"};
constexpr Expected kAlgorithmMismatch{ErrorCode::kInvalidArgument, "algorithm_mismatch"};

::testing::AssertionResult Fails(const Status& st, Expected e) {
  if (st.ok()) return ::testing::AssertionFailure() << "succeeded; expected " << e.reason;
  if (st.code() != e.code || st.reason() != e.reason) {
    return ::testing::AssertionFailure() << "got " << st.to_string() << "; expected " << error_code_name(e.code) << "/"
                                         << e.reason;
  }
  return ::testing::AssertionSuccess();
}
template <typename T>
::testing::AssertionResult Fails(const Result<T>& r, Expected e) {
  if (r.ok()) return ::testing::AssertionFailure() << "succeeded; expected " << e.reason;
  return Fails(r.status(), e);
}

class HsmConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    Status st = GetParam().open(under_test_);
    ASSERT_TRUE(st.ok()) << st.to_string();
    ASSERT_NE(under_test_.hsm, nullptr);
  }
  hsm::Hsm& hsm() { return *under_test_.hsm; }

  // SoftHSM2 leaks inside C_Sign for Ed25519, which ASan's fast unwinder cannot attribute
  // (tests/support/sanitizers.h): such signatures are covered by pkcs11_algorithms_test there.
  bool can_sign(Algorithm alg) const { return !(kAsan && GetParam().softhsm && alg == Algorithm::kEdDSA); }

  // The key with `id` as list_keys reports it; nullopt if absent.
  std::optional<hsm::KeyInfo> listed(const std::string& id) {
    auto all = hsm().list_keys("");
    EXPECT_TRUE(all.ok()) << all.status().to_string();
    if (!all.ok()) return std::nullopt;
    for (auto& k : *all) {
      if (k.id == id) return k;
    }
    return std::nullopt;
  }

  HsmUnderTest under_test_;
};

TEST_P(HsmConformance, SupportedAlgorithmsAreEveryAlgorithmSortedOnce) {
  // FakeHsm offers every algorithm; so does SoftHSM2 2.6.1, asked mechanism by mechanism.
  const std::vector<Algorithm> expected(std::begin(kAllAlgorithms), std::end(kAllAlgorithms));
  EXPECT_EQ(hsm().supported_algorithms(), expected);
}

TEST_P(HsmConformance, HealthyWhenOpen) { EXPECT_TRUE(hsm().health().ok()) << hsm().health().to_string(); }

TEST_P(HsmConformance, EveryAlgorithmGeneratesAndSignsVerifiably) {
  const std::vector<Algorithm> algs = hsm().supported_algorithms();
  ASSERT_FALSE(algs.empty());
  std::vector<hsm::KeyInfo> made;
  for (size_t i = 0; i < algs.size(); ++i) {
    const Algorithm alg = algs[i];
    SCOPED_TRACE(algorithm_name(alg));
    const std::string id = "c0de0" + std::to_string(i);
    const std::string label = "jwt-" + std::string(algorithm_name(alg));
    auto key = hsm().generate_key(alg, id, label);
    ASSERT_TRUE(key.ok()) << key.status().to_string();
    EXPECT_EQ(key->id, id);
    EXPECT_EQ(key->label, label);
    EXPECT_EQ(key->public_key.alg, alg);
    // A well-formed SubjectPublicKeyInfo of the right algorithm: it survives the JWK round trip.
    auto back = hsm::public_key_from_jwk(hsm::public_jwk(key->public_key), alg);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(back->spki_der, key->public_key.spki_der);
    made.push_back(*key);

    if (!can_sign(alg)) continue;
    const std::string input = jws_signing_input(alg, id, R"({"sub":"conformance"})");
    auto sig = hsm().sign(id, alg, input);
    ASSERT_TRUE(sig.ok()) << sig.status().to_string();
    EXPECT_EQ(sig->size(), hsm::signature_size(alg));
    EXPECT_TRUE(OpensslVerifies(key->public_key.spki_der, alg, input, *sig));
    EXPECT_FALSE(OpensslVerifies(key->public_key.spki_der, alg, input + "x", *sig)) << "verifies anything";
    if (i > 0 && made[i - 1].public_key.alg != alg) {
      // The signature belongs to this key only (the previous key is another algorithm's).
      EXPECT_FALSE(OpensslVerifies(made[i - 1].public_key.spki_der, alg, input, *sig));
    }
  }
  // Listing reports the same public keys generate_key returned.
  for (const auto& k : made) {
    SCOPED_TRACE(k.id);
    auto found = listed(k.id);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->label, k.label);
    EXPECT_EQ(found->public_key.alg, k.public_key.alg);
    EXPECT_EQ(found->public_key.spki_der, k.public_key.spki_der);
  }
}

TEST_P(HsmConformance, TwoKeysOfOneAlgorithmAreDifferentKeys) {
  auto a = hsm().generate_key(Algorithm::kES256, "0a", "k");
  auto b = hsm().generate_key(Algorithm::kES256, "0b", "k");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->public_key.spki_der, b->public_key.spki_der);
  auto sig = hsm().sign("0b", Algorithm::kES256, "x.y");
  ASSERT_TRUE(sig.ok()) << sig.status().to_string();
  EXPECT_TRUE(OpensslVerifies(b->public_key.spki_der, Algorithm::kES256, "x.y", *sig));
  EXPECT_FALSE(OpensslVerifies(a->public_key.spki_der, Algorithm::kES256, "x.y", *sig));
}

TEST_P(HsmConformance, KeyIdsAreHexNormalisedToLowerCase) {
  auto key = hsm().generate_key(Algorithm::kES256, "A1B2", "web");
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  EXPECT_EQ(key->id, "a1b2");
  EXPECT_TRUE(listed("a1b2").has_value());
  EXPECT_TRUE(hsm().sign("a1b2", Algorithm::kES256, "x.y").ok());
  EXPECT_TRUE(hsm().sign("A1B2", Algorithm::kES256, "x.y").ok());
  // The longest id allowed: 128 bytes.
  const std::string longest(256, 'f');
  auto big = hsm().generate_key(Algorithm::kES256, longest, "big");
  ASSERT_TRUE(big.ok()) << big.status().to_string();
  EXPECT_EQ(big->id, longest);
  EXPECT_TRUE(hsm().sign(longest, Algorithm::kES256, "x.y").ok());
}

TEST_P(HsmConformance, DuplicateIdIsRefusedAndTheFirstKeyStays) {
  auto first = hsm().generate_key(Algorithm::kES256, "01", "web-1");
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_TRUE(Fails(hsm().generate_key(Algorithm::kES256, "01", "again"), kKeyExists));
  EXPECT_TRUE(Fails(hsm().generate_key(Algorithm::kES384, "01", "again"), kKeyExists)) << "other algorithm";
  ASSERT_TRUE(hsm().generate_key(Algorithm::kES256, "0a", "web-0").ok());
  EXPECT_TRUE(Fails(hsm().generate_key(Algorithm::kES256, "0A", "again"), kKeyExists)) << "0A is 0a";
  auto keys = hsm().list_keys("");
  ASSERT_TRUE(keys.ok()) << keys.status().to_string();
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[1].id, "01");
  EXPECT_EQ((*keys)[1].label, "web-1");
  EXPECT_EQ((*keys)[1].public_key.spki_der, first->public_key.spki_der);
}

TEST_P(HsmConformance, MalformedIdsAreRefusedEverywhere) {
  ASSERT_TRUE(hsm().generate_key(Algorithm::kES256, "01", "web").ok());
  const std::string too_long(258, 'a');  // 129 bytes
  for (const std::string& bad : {std::string(""), std::string("zz"), std::string("abc"), std::string("0x01"),
                                 std::string(" 01 "), too_long}) {
    SCOPED_TRACE("id '" + bad + "'");
    EXPECT_TRUE(Fails(hsm().generate_key(Algorithm::kES256, bad, "x"), kInvalidKeyId));
    EXPECT_TRUE(Fails(hsm().sign(bad, Algorithm::kES256, "x.y"), kInvalidKeyId));
    EXPECT_TRUE(Fails(hsm().destroy_key(bad), kInvalidKeyId));
  }
  EXPECT_EQ(hsm().list_keys("")->size(), 1u) << "nothing was created";
}

TEST_P(HsmConformance, SignWithAnotherAlgorithmIsRefused) {
  ASSERT_TRUE(hsm().generate_key(Algorithm::kES256, "e1", "ec").ok());
  ASSERT_TRUE(hsm().generate_key(Algorithm::kRS256, "a1", "rsa").ok());
  EXPECT_TRUE(Fails(hsm().sign("e1", Algorithm::kES384, "x.y"), kAlgorithmMismatch)) << "other curve";
  EXPECT_TRUE(Fails(hsm().sign("e1", Algorithm::kEdDSA, "x.y"), kAlgorithmMismatch));
  EXPECT_TRUE(Fails(hsm().sign("e1", Algorithm::kRS256, "x.y"), kAlgorithmMismatch));
  EXPECT_TRUE(Fails(hsm().sign("a1", Algorithm::kPS256, "x.y"), kAlgorithmMismatch)) << "other padding";
  EXPECT_TRUE(Fails(hsm().sign("a1", Algorithm::kRS256_3072, "x.y"), kAlgorithmMismatch)) << "other size";
  EXPECT_TRUE(Fails(hsm().sign("a1", Algorithm::kES256, "x.y"), kAlgorithmMismatch));
  // The keys still sign with their own algorithm.
  EXPECT_TRUE(hsm().sign("e1", Algorithm::kES256, "x.y").ok());
  EXPECT_TRUE(hsm().sign("a1", Algorithm::kRS256, "x.y").ok());
}

TEST_P(HsmConformance, UnknownKeyIsNotFound) {
  ASSERT_TRUE(hsm().generate_key(Algorithm::kES256, "01", "web").ok());
  EXPECT_TRUE(Fails(hsm().sign("02", Algorithm::kES256, "x.y"), kKeyNotFound));
  EXPECT_TRUE(Fails(hsm().destroy_key("02"), kKeyNotFound));
  auto st = hsm().sign("02", Algorithm::kES256, "x.y").status();
  EXPECT_NE(st.message().find("02"), std::string::npos) << "the message names the id: " << st.message();
}

TEST_P(HsmConformance, RefreshViewKeepsEveryKeyListedAndSigning) {
  ASSERT_TRUE(hsm().generate_key(Algorithm::kES256, "0a", "web-a").ok());
  ASSERT_TRUE(hsm().generate_key(Algorithm::kES384, "0b", "web-b").ok());
  ASSERT_TRUE(hsm().refresh_view().ok());
  auto keys = hsm().list_keys("web-");
  ASSERT_TRUE(keys.ok()) << keys.status().to_string();
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].id, "0a");
  EXPECT_EQ((*keys)[1].id, "0b");
  EXPECT_TRUE(hsm().sign("0a", Algorithm::kES256, "x.y").ok());
  EXPECT_TRUE(hsm().sign("0b", Algorithm::kES384, "x.y").ok());
  EXPECT_TRUE(hsm().health().ok());
}

TEST_P(HsmConformance, ListByLabelPrefixSortedByLabelThenId) {
  // Made in an order that is neither label nor id order.
  struct Made {
    const char* id;
    const char* label;
  };
  const Made made[] = {{"b2", "web-2"}, {"c1", "api-1"}, {"a9", "web-1"}, {"b1", "web-1"}, {"a1", "web-10"},
                       {"d1", "we"},    {"e1", "Web-1"}};
  for (const auto& m : made) ASSERT_TRUE(hsm().generate_key(Algorithm::kES256, m.id, m.label).ok()) << m.id;

  auto ids = [&](std::string_view prefix) {
    std::vector<std::string> out;
    auto keys = hsm().list_keys(prefix);
    EXPECT_TRUE(keys.ok()) << keys.status().to_string();
    if (keys.ok()) {
      for (const auto& k : *keys) out.push_back(k.label + "/" + k.id);
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids("web-"), (V{"web-1/a9", "web-1/b1", "web-10/a1", "web-2/b2"}));
  EXPECT_EQ(ids("web-1"), (V{"web-1/a9", "web-1/b1", "web-10/a1"}));
  EXPECT_EQ(ids("we"), (V{"we/d1", "web-1/a9", "web-1/b1", "web-10/a1", "web-2/b2"}));
  EXPECT_EQ(ids(""), (V{"Web-1/e1", "api-1/c1", "we/d1", "web-1/a9", "web-1/b1", "web-10/a1", "web-2/b2"}));
  EXPECT_EQ(ids("Web"), (V{"Web-1/e1"})) << "prefixes are case-sensitive";
  EXPECT_EQ(ids("web-1/"), V{});
  EXPECT_EQ(ids("eb"), V{}) << "a prefix, not a substring";
}

TEST_P(HsmConformance, ListOfAnEmptyHsmIsEmpty) {
  auto keys = hsm().list_keys("");
  ASSERT_TRUE(keys.ok()) << keys.status().to_string();
  EXPECT_TRUE(keys->empty());
}

TEST_P(HsmConformance, DestroyRemovesOnlyThatKeyAndOnlyOnce) {
  ASSERT_TRUE(hsm().generate_key(Algorithm::kES256, "a1", "web-1").ok());
  ASSERT_TRUE(hsm().generate_key(Algorithm::kES256, "a2", "web-2").ok());
  ASSERT_TRUE(hsm().sign("a1", Algorithm::kES256, "x.y").ok());  // a used key goes too

  ASSERT_TRUE(hsm().destroy_key("A1").ok()) << "ids are normalised here too";
  EXPECT_TRUE(Fails(hsm().sign("a1", Algorithm::kES256, "x.y"), kKeyNotFound));
  EXPECT_TRUE(Fails(hsm().destroy_key("a1"), kKeyNotFound)) << "destroy twice";
  EXPECT_FALSE(listed("a1").has_value());

  EXPECT_TRUE(listed("a2").has_value());
  EXPECT_TRUE(hsm().sign("a2", Algorithm::kES256, "x.y").ok());

  // The id is free again, for a new key.
  auto again = hsm().generate_key(Algorithm::kES384, "a1", "web-1b");
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  auto sig = hsm().sign("a1", Algorithm::kES384, "x.y");
  ASSERT_TRUE(sig.ok()) << sig.status().to_string();
  EXPECT_TRUE(OpensslVerifies(again->public_key.spki_der, Algorithm::kES384, "x.y", *sig));
}

INSTANTIATE_TEST_SUITE_P(Backends, HsmConformance, ::testing::ValuesIn(kBackends),
                         [](const ::testing::TestParamInfo<Backend>& info) { return info.param.name; });

}  // namespace
}  // namespace keymgr::testing
