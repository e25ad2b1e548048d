// The PostgreSQL backend of Store (db/store.h), for several keymgr instances on one database.
//
// Off-path sequencing (docs/ledger.md, "Sequencing"): the signing path never waits for a
// cluster-wide lock. append_ledger() and the ledger entries of every write are inserted into
// ledger_pending (an intake table keyed by a database sequence) in the caller's transaction, which
// commits with synchronous_commit = on: the entry is durable and readable (with seq 0) when the
// call returns. sequence_ledger() / integrate_tree() (run by the one integrator, the leader) moves
// pending entries into the hash-chained ledger in intake order, assigning dense seqs, in one
// transaction that locks the chain head row: only sequencers ever wait for it.
//
// Connections: a dedicated one for the group committer, and a pool shared by reads and other
// writes (libpq connections are not thread-safe; each is used by one thread at a time). A broken
// connection is reset on its next use; meanwhile calls fail closed with kUnavailable.
//
// Thread-safety and errors: as Store. SQLSTATEs map to Status in db/pg_util.h.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "db/store.h"

namespace keymgr::db {

// Settings only the PostgreSQL backend has.
struct PostgresOptions {
  int connect_timeout_s = 5;      // libpq connect_timeout for every connection
  int statement_timeout_ms = 10000;  // a statement running longer is cancelled (fail closed, not hang)
  // A session that sits inside a transaction without sending anything for this long (its process
  // stopped, hung or cut off) has its transaction aborted by the server, releasing its locks: a
  // paused leader cannot hold the lease row or the ledger head. Keep it below cluster.lease_ttl.
  int idle_in_transaction_timeout_ms = 3000;
};

// Connects to `url` (a libpq URI: postgresql://user@host:port/db?sslmode=..., or with host= a
// unix-socket directory) and migrates the schema (one instance at a time, under an advisory lock).
// The URL may hold a password; it is never logged or put into a Status message.
Result<std::unique_ptr<Store>> open_postgres_store(const std::string& url, const StoreOptions& opts = {},
                                                   const PostgresOptions& pg = {});

// The URL with any password replaced by "***" (for logs and errors).
std::string redact_database_url(const std::string& url);

}  // namespace keymgr::db
