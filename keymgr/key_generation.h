// One key generation, undone unless committed (as Botan's ObjectGuard): the intent row is
// committed before the HSM creates the key pair, so a crash in between leaves a row that reconcile
// finds; if anything fails before the caller commits a change set holding the new key, the guard
// destroys the HSM object and removes the intent row (what it cannot undo, reconcile repairs).
//
// Thread-safety: one guard belongs to one operation. REQUIRES: the keyset's mutex held.
#pragma once

#include <optional>
#include <string>

#include "db/records.h"
#include "db/store.h"
#include "hsm/hsm.h"
#include "keymgr/keyset.h"

namespace keymgr {

// The note of an intent row made by instance `owner`, and the owner read back from one ("" when the
// intent names none: made by a build before instances, or a single instance).
std::string intent_note(std::string_view owner);
std::string intent_owner(std::string_view note);

class KeyGeneration {
 public:
  // Records the intent, generates the key pair and builds its pre-activation record (kid = JWK
  // thumbprint, public JWK, created_at = now; no window yet: the caller sets it with key()).
  // `fence`: the intent (and so the HSM generation) is refused unless this instance still leads.
  // `owner`: the instance id recorded on the intent row (see intent_owner()).
  static Result<KeyGeneration> start(hsm::Hsm& hsm, db::Store& store, const Keyset& ks, TimePoint now, bool emergency,
                                     const db::Fence* fence = nullptr, std::string_view owner = "");

  KeyGeneration(KeyGeneration&& o) noexcept;
  KeyGeneration& operator=(KeyGeneration&&) = delete;
  KeyGeneration(const KeyGeneration&) = delete;
  ~KeyGeneration();

  // The new key (state pre-activation); the caller sets its window and state before committing.
  Key& key() { return key_; }
  db::KeyRecord record(int64_t keyset_id) const { return key_to_record(key_, keyset_id); }
  // The caller committed a change set holding the key: nothing to undo.
  void committed() { armed_ = false; }

 private:
  KeyGeneration(hsm::Hsm& hsm, db::Store& store, std::string keyset) : hsm_(&hsm), store_(&store), keyset_(std::move(keyset)) {}
  void undo() noexcept;

  hsm::Hsm* hsm_;
  db::Store* store_;
  std::string keyset_;
  Key key_;
  bool intent_recorded_ = false;
  bool hsm_object_ = false;
  bool armed_ = true;
};

}  // namespace keymgr
