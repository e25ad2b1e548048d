#include "db/signing_admission.h"

#include <algorithm>

namespace keymgr::db {

Status admit_signature(const LedgerEntry& e, const SigningKeyRow* row, int64_t signatures) {
  auto refuse = [&](const std::string& why) {
    return FailedPrecondition("key '" + e.kid + "' may not sign: " + why, std::string(kKeyNotSigning));
  };
  if (row == nullptr) return refuse("no such key");
  if (row->keyset != e.keyset) return refuse("it belongs to keyset '" + row->keyset + "', not '" + e.keyset + "'");
  if (row->keyset_disabled) return refuse("keyset '" + row->keyset + "' is disabled");
  if (row->state != "active") return refuse("it is " + row->state);
  if (e.ts_ms < row->activate_at * 1000) return refuse("its signing window has not begun");
  if (e.ts_ms >= row->deactivate_at * 1000) return refuse("its signing window has ended");
  if (e.usage_limit > 0 && signatures >= e.usage_limit) {
    return FailedPrecondition("key '" + e.kid + "' has made its " + std::to_string(e.usage_limit) +
                                  " signatures (policy max_signatures)",
                              std::string(kKeyUsageExhausted));
  }
  return Status::Ok();
}

std::vector<std::string> kids_to_admit(const std::vector<const LedgerEntry*>& entries, const std::vector<bool>& admit) {
  std::vector<std::string> kids;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i < admit.size() && admit[i]) kids.push_back(entries[i]->kid);
  }
  std::sort(kids.begin(), kids.end());
  kids.erase(std::unique(kids.begin(), kids.end()), kids.end());
  return kids;
}

std::vector<const LedgerEntry*> admit_batch(const std::vector<const LedgerEntry*>& entries,
                                            const std::vector<bool>& admit,
                                            const std::map<std::string, SigningKeyRow>& rows,
                                            std::vector<Status>* refusals) {
  std::vector<const LedgerEntry*> out;
  out.reserve(entries.size());
  refusals->assign(entries.size(), Status::Ok());
  std::map<std::string, int64_t> admitted_per_kid;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i < admit.size() && admit[i]) {
      auto it = rows.find(entries[i]->kid);
      int64_t& admitted = admitted_per_kid[entries[i]->kid];
      const int64_t used = (it == rows.end() ? 0 : it->second.signatures) + admitted;
      Status st = admit_signature(*entries[i], it == rows.end() ? nullptr : &it->second, used);
      if (!st.ok()) {
        (*refusals)[i] = std::move(st);
        continue;
      }
      ++admitted;
    }
    out.push_back(entries[i]);
  }
  return out;
}

std::map<std::string, UsageDelta> usage_deltas(const std::vector<const LedgerEntry*>& entries,
                                               const std::vector<bool>& admit, const std::vector<Status>& refusals) {
  std::map<std::string, UsageDelta> out;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i >= admit.size() || !admit[i] || (i < refusals.size() && !refusals[i].ok())) continue;
    UsageDelta& d = out[entries[i]->kid];
    ++d.signatures;
    d.last_signed_ms = std::max(d.last_signed_ms, entries[i]->ts_ms);
    ++d.per_hour[entries[i]->ts_ms - entries[i]->ts_ms % 3'600'000];
  }
  return out;
}

std::vector<int64_t> seqs_for_batch(const std::vector<Status>& refusals, const std::vector<int64_t>& written_seqs) {
  std::vector<int64_t> out;
  out.reserve(refusals.size());
  size_t next = 0;
  for (const Status& r : refusals) {
    out.push_back(r.ok() && next < written_seqs.size() ? written_seqs[next++] : 0);
  }
  return out;
}

}  // namespace keymgr::db
