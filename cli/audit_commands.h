// keymgr audit verify | prove | verify-proof | monitor | keys | rotate-key: the signing ledger as a
// transparency log (keymgr/ledger_log.h; formats in keymgr/tlog_text.h; docs/ledger.md).
//
//   verify        local: the full audit of the database (chain, tree, every checkpoint signature
//                 by its own key id, consistency of consecutive checkpoints); needs no HSM
//   prove         remote: a token's C2SP tlog-proof file (the token goes in a POST body, never a
//                 URL), or an entry's by --seq/--jti/--token-sha256 (auditor token)
//   verify-proof  offline: checks a proof file against verifier keys the caller trusts (and, with
//                 --witness-key/--witness-quorum, the witness cosignatures it requires)
//   monitor       an auditor's cron job: the server's new checkpoint must extend the saved one
//   keys, rotate-key   remote: the log's verifier keys; an operator rotation (admin)
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "cli/cli_support.h"

namespace keymgr::cli {

// Adds the commands to `audit`. `config`, `remote` and `rc` must outlive the parse: they are read
// (config, remote) and written (rc: the exit code) when a command runs.
void add_log_commands(CLI::App& audit, const std::string& config, Remote& remote, int& rc);

}  // namespace keymgr::cli
