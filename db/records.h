// Plain rows as the store keeps them. The store knows storage, not the rules: states, algorithms and
// policies are stored as the text keymgr gives it (keymgr/ parses and validates them).
// All times are Unix seconds unless the name says _ms.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/encoding.h"

namespace keymgr::db {

struct KeysetRecord {
  int64_t id = 0;            // assigned by the store on insert
  std::string name;          // unique
  std::string issuer;        // unique
  std::string alg;           // algorithm_name()
  std::string policy_json;   // keymgr::Policy as JSON
  bool disabled = false;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  // Set by the store: grows with every committed change to the keyset or its keys (apply()), so
  // another instance can tell that its copy is stale (Store::keyset_versions).
  int64_t version = 0;
};

struct KeysetVersion {
  int64_t id = 0;
  std::string name;
  int64_t version = 0;
};

struct KeyRecord {
  std::string kid;            // RFC 7638 thumbprint; primary key. Empty while state == "generating".
  std::string hsm_id;         // hex CKA_ID; unique
  int64_t keyset_id = 0;
  std::string alg;
  std::string state;          // key_state_name(), or "generating" (intent row before HSM generation)
  std::string public_jwk;     // JSON text
  int64_t created_at = 0;
  int64_t activate_at = 0;    // may sign from
  int64_t deactivate_at = 0;  // signs until (exclusive)
  int64_t retire_at = 0;      // unpublished from
  int64_t destroy_at = 0;     // HSM object deleted from
  int64_t state_changed_at = 0;
  std::optional<int64_t> compromised_since;
  std::string note;           // last transition's reason (full history is in the ledger)
  bool emergency = false;     // created by an emergency rotation
};

// One ledger entry: a signing attempt (kind "sign") or a lifecycle event (kind "lifecycle").
struct LedgerEntry {
  int64_t seq = 0;            // assigned by the store (1, 2, ...)
  int64_t ts_ms = 0;
  std::string kind;           // "sign" | "lifecycle"
  std::string event;          // "sign" | "key_generated" | "key_activated" | "policy_changed" | ...
  std::string keyset;         // keyset name
  std::string kid;
  std::string alg;
  std::string actor;          // API token name, "scheduler", "cli:<user>"
  std::string actor_addr;     // remote address, or "" / "local"
  std::string jti, sub, aud;
  int64_t iat = 0, exp = 0;
  std::string token_sha256;   // hex, sign entries with outcome "ok"
  std::string outcome;        // "ok" | "refused" | "error"
  std::string reason;         // machine-readable refusal/error reason, or lifecycle reason text
  std::string detail;         // JSON text, free-form (e.g. {"from":"active","to":"deactivated"})
  Bytes prev_hash;            // assigned by the store: hash of entry seq-1 (32 zero bytes for seq 1)
  Bytes hash;                 // assigned by the store: SHA-256 over prev_hash and the content
  // Store::append_signature only, never stored or hashed: refuse the signature once key `kid`
  // has recorded this many (db/signing_admission.h); 0 = no limit.
  int64_t usage_limit = 0;
};

// How much a key has signed: every signature recorded by Store::append_signature, counted in the
// same transaction that records it (exact across instances and restarts).
struct KeyUsage {
  std::string kid;
  int64_t signatures = 0;
  int64_t last_signed_ms = 0;  // Unix ms of the newest signature; 0 = never signed
};

// Signatures of one key within one hour (Store::key_usage_hours).
struct KeyUsageHour {
  std::string kid;
  int64_t hour_ms = 0;  // Unix ms, a multiple of 3,600,000
  int64_t signatures = 0;
};

// A named lease that one holder at a time may hold (db/store.h acquire_lease): "which instance may
// act" for the scheduler, reconcile and the ledger integrator.
struct Lease {
  std::string name;
  std::string holder;         // the instance that holds it
  int64_t epoch = 0;          // grows whenever the lease is granted anew (another holder, or after expiry)
  int64_t expires_at_ms = 0;  // by the database's clock (Unix ms)
};

// A fencing token: a write carrying it is refused unless `lease` is still held at `epoch` and has
// not expired when the write's transaction runs. A paused leader that lost its lease can then
// change nothing, whatever it believes.
struct Fence {
  std::string lease;
  int64_t epoch = 0;
};

// Several changes applied in one transaction: all or nothing.
struct ChangeSet {
  std::optional<Fence> fence;                // refused ("stale_leader") unless still valid
  // {keyset id, version}: refused (kFailedPrecondition "keyset_changed", nothing written) unless the
  // keyset is still at that version — the snapshot the change was computed from. Another instance
  // changing the keyset meanwhile makes this one fail instead of both landing.
  std::vector<std::pair<int64_t, int64_t>> expected_versions;
  std::vector<KeysetRecord> keyset_upserts;  // id == 0: insert (id assigned); else update by id
  std::vector<KeyRecord> key_inserts;
  std::vector<KeyRecord> key_updates;        // by hsm_id
  std::vector<std::string> key_deletes;      // hsm_id; only rows in state "generating" (no version bump)
  std::vector<LedgerEntry> ledger;           // appended to the chain in order
};

struct LedgerQuery {
  std::optional<std::string> keyset, kid, sub, jti, actor, outcome, kind, token_sha256;
  std::optional<int64_t> from_ms, to_ms;     // inclusive range on ts_ms
  std::optional<int64_t> before_seq;         // cursor: entries with seq < before_seq
  int limit = 100;                           // newest first
};

struct LedgerPage {
  std::vector<LedgerEntry> entries;
  std::optional<int64_t> next_cursor;        // pass as before_seq for the next page
};

struct ChainReport {
  bool ok = true;
  int64_t entries = 0;
  std::optional<int64_t> first_bad_seq;      // first entry whose hash or link does not verify
  std::string problem;                       // "altered", "removed", "reordered", "checkpoint mismatch"...
  Bytes head;                                // hash of the last entry
};

// A signed statement of the ledger's head (not a database WAL checkpoint): the audit key signs
// ledger_checkpoint_signing_input() (db/ledger_checkpoint.h).
struct LedgerCheckpoint {
  int64_t seq = 0;          // entries covered: 1..seq
  Bytes head;               // hash of entry seq
  int64_t ts_ms = 0;
  std::string kid;          // audit key that signed it
  std::string alg;
  Bytes signature;          // over ledger_checkpoint_signing_input()
};

// The Merkle tree over the ledger (db/merkle.h; docs/ledger.md "The transparency log"): leaf i is
// ledger entry seq i+1, leaf hash = SHA-256(0x00 ‖ ledger_canonical_encoding(entry)).
struct TreeHead {
  int64_t size = 0;         // leaves integrated (entries 1..size)
  Bytes root;               // MTH of those leaves (SHA-256("") when size == 0)
  int64_t integrated_at_ms = 0;  // when the store last grew the tree (0: never)
};

// A signed checkpoint of the tree (C2SP tlog-checkpoint in a signed note). The store keeps the note
// text as given; keymgr/ formats and verifies it. Only sizes whose root matches the tree are stored.
struct TreeCheckpoint {
  int64_t size = 0;
  Bytes root;
  int64_t ts_ms = 0;
  std::string note;         // the signed note: checkpoint text, blank line, signature lines
};

// A witness's cosignature on a stored checkpoint (C2SP tlog-cosignature), as its signature line.
struct Cosignature {
  int64_t size = 0;         // the checkpoint it cosigns
  std::string witness;      // the witness's key name
  std::string signature_line;  // "— <name> <base64>\n"
  int64_t received_at_ms = 0;
};

// An audit (checkpoint-signing) key as published: every key ever used stays, with its validity.
struct AuditKeyRecord {
  std::string verifier_key;  // C2SP verifier key string (name+keyid+base64(type ‖ key)); unique
  std::string hsm_id;        // the HSM object (hex CKA_ID)
  std::string alg;           // "Ed25519" | "ES256"
  int64_t created_at = 0;    // Unix seconds
  int64_t active_from = 0;   // signs checkpoints from
  std::optional<int64_t> retired_at;  // stops signing at (still verifies what it signed)
};

struct ApiTokenRecord {
  std::string id;           // public part of the token, unique
  std::string name;
  std::string role;         // admin | ops | issuer | auditor
  std::vector<std::string> keysets;  // issuer binding
  Bytes secret_hash;        // SHA-256 of the secret part
  int64_t created_at = 0;
  std::optional<int64_t> revoked_at;
};

// An alert raised by a detector (keymgr/monitor.h). The id is stable for one incident (the
// detector's de-duplication key, hashed), so a repeat of the incident counts on the same alert and
// webhook receivers de-duplicate by it.
struct AlertRecord {
  std::string id;
  int64_t ts_ms = 0;          // first raised
  int64_t last_seen_ms = 0;   // last raised again
  int64_t occurrences = 1;
  std::string kind;           // leak_suspected | signing_outside_policy | unknown_kid_probe | ...
  std::string severity;       // critical | warning | info
  std::string keyset, kid;
  std::string summary;        // one human sentence
  std::string evidence;       // JSON object text
  std::optional<int64_t> acked_at_ms;
  std::string acked_by, ack_reason;
};

struct AlertQuery {
  std::optional<std::string> keyset, kind, severity;
  std::optional<bool> acknowledged;
  std::optional<int64_t> from_ms;             // ts_ms >= from_ms
  std::optional<std::string> before;          // cursor: the page's last "<ts_ms>:<id>"
  int limit = 100;                            // newest first; clamped to 1..1000
};

struct AlertPage {
  std::vector<AlertRecord> alerts;
  std::optional<std::string> next_cursor;
};

// One pending or done delivery of an alert to one sink (the outbox row).
struct AlertDelivery {
  std::string alert_id;
  std::string sink;
  int64_t attempts = 0;
  int64_t next_attempt_ms = 0;
  std::string last_error;
  std::optional<int64_t> delivered_at_ms;
};

struct AlertStats {
  int64_t open_critical = 0, open_warning = 0, open_info = 0;
  int64_t deliveries_pending = 0;
  std::optional<int64_t> oldest_pending_ms;   // ts of the oldest undelivered alert
};

}  // namespace keymgr::db
