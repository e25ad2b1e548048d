#include "keymgr/key_generation.h"

#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "common/encoding.h"
#include "hsm/public_key.h"
#include "keymgr/key_window.h"

namespace keymgr {

namespace {
constexpr std::string_view kIntentNotePrefix = "generating on instance ";
}  // namespace

std::string intent_note(std::string_view owner) {
  return owner.empty() ? std::string() : std::string(kIntentNotePrefix) + std::string(owner);
}

std::string intent_owner(std::string_view note) {
  return note.starts_with(kIntentNotePrefix) ? std::string(note.substr(kIntentNotePrefix.size())) : std::string();
}

Result<KeyGeneration> KeyGeneration::start(hsm::Hsm& hsm, db::Store& store, const Keyset& ks, TimePoint now,
                                           bool emergency, const db::Fence* fence, std::string_view owner) {
  ASSIGN_OR_RETURN(Bytes rnd, random_bytes(16));
  KeyGeneration g(hsm, store, ks.name);
  Key& k = g.key_;
  k.hsm_id = hex_encode(rnd);
  k.alg = ks.alg;
  k.created_at = whole_second(now);
  k.state_changed_at = k.created_at;
  k.emergency = emergency;
  // Intent first: a crash after the HSM creates the key leaves a row that reconcile() finds.
  db::KeyRecord intent = g.record(ks.id);
  intent.state = std::string(kGeneratingState);
  intent.note = intent_note(owner);
  db::ChangeSet cs;
  if (fence != nullptr) cs.fence = *fence;
  cs.key_inserts.push_back(intent);
  RETURN_IF_ERROR(store.apply(cs).status());
  g.intent_recorded_ = true;

  const std::string label = std::string(kKeyLabelPrefix) + ks.name + ":" + k.hsm_id.substr(0, 12);
  auto gen = hsm.generate_key(ks.alg, k.hsm_id, label);
  if (!gen.ok()) {
    return gen.status().with_context("generating " + std::string(algorithm_name(ks.alg)) + " key for keyset '" +
                                     ks.name + "'");
  }
  g.hsm_object_ = true;
  nlohmann::json jwk = hsm::public_jwk(gen->public_key);
  k.kid = hsm::jwk_thumbprint(jwk);
  jwk["kid"] = k.kid;
  jwk["use"] = "sig";
  jwk["alg"] = std::string(jws_alg(ks.alg));
  k.jwk_text = jwk.dump();
  k.jwk = std::move(jwk);
  k.state = KeyState::kPreActivation;
  return g;
}

KeyGeneration::KeyGeneration(KeyGeneration&& o) noexcept
    : hsm_(o.hsm_),
      store_(o.store_),
      keyset_(std::move(o.keyset_)),
      key_(std::move(o.key_)),
      intent_recorded_(o.intent_recorded_),
      hsm_object_(o.hsm_object_),
      armed_(o.armed_) {
  o.armed_ = false;
}

KeyGeneration::~KeyGeneration() {
  if (armed_) undo();
}

void KeyGeneration::undo() noexcept {
  if (hsm_object_) {
    Status st = hsm_->destroy_key(key_.hsm_id);
    if (!st.ok() && st.code() != ErrorCode::kNotFound) {
      spdlog::error("keyset {}: could not destroy uncommitted key {} (reconcile will): {}", keyset_, key_.hsm_id,
                    st.to_string());
      return;  // keep the intent row: it tells reconcile the object is ours to remove
    }
  }
  if (intent_recorded_) {
    db::ChangeSet undo;
    undo.key_deletes.push_back(key_.hsm_id);
    auto st = store_->apply(undo);
    if (!st.ok()) {
      spdlog::error("keyset {}: could not remove key intent {} (reconcile will): {}", keyset_, key_.hsm_id,
                    st.status().to_string());
    }
  }
}

}  // namespace keymgr
