#include "db/ledger_checkpoint.h"

#include "common/encoding.h"

namespace keymgr::db {

std::string ledger_checkpoint_signing_input(const LedgerCheckpoint& cp) {
  return std::string(kLedgerCheckpointTag) + "\n" + std::to_string(cp.seq) + "\n" + hex_encode(cp.head) + "\n" +
         std::to_string(cp.ts_ms);
}

}  // namespace keymgr::db
