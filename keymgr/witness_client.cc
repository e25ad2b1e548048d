#include "keymgr/witness_client.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "keymgr/tlog_text.h"

namespace keymgr {

// One witness's HTTP client: keep-alive (tlog-witness: clients SHOULD), bounded by the timeout.
class WitnessHttp {
 public:
  WitnessHttp(const WitnessUrl& url, std::chrono::milliseconds timeout) : client_(url.scheme_host_port), path_(url.path) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(timeout);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout - s);
    client_.set_connection_timeout(s.count(), us.count());
    client_.set_read_timeout(s.count(), us.count());
    client_.set_write_timeout(s.count(), us.count());
    client_.set_keep_alive(true);
    client_.set_follow_location(false);
  }

  struct Answer {
    int status = 0;
    std::string content_type;
    std::string body;
  };

  Result<Answer> post(const std::string& body) {
    // The spec names no request media type; the body is text.
    httplib::Result res = client_.Post(path_, body, "text/plain; charset=utf-8");
    if (!res) return Unavailable("no answer: " + httplib::to_string(res.error()), "witness_unreachable");
    return Answer{res->status, res->get_header_value("Content-Type"), std::move(res->body)};
  }

  void stop() { client_.stop(); }

 private:
  httplib::Client client_;
  std::string path_;
};

namespace {

constexpr size_t kMaxLoggedBody = 200;

std::optional<uint64_t> parse_size_body(std::string_view body) {
  // text/x.tlog.size: the decimal size and a newline.
  if (body.empty() || body.back() != '\n') return std::nullopt;
  body.remove_suffix(1);
  if (body.empty() || body.size() > 20 || (body.size() > 1 && body[0] == '0')) return std::nullopt;
  uint64_t v = 0;
  for (char c : body) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::string printable(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, kMaxLoggedBody)) out += (c >= 0x20 && c < 0x7f) ? c : '.';
  if (body.size() > kMaxLoggedBody) out += "...";
  return out;
}

WitnessResult result(WitnessOutcome o, std::string msg, std::optional<uint64_t> size = std::nullopt) {
  return WitnessResult{o, std::move(msg), size};
}

}  // namespace

Result<WitnessUrl> parse_witness_url(std::string_view url) {
  const auto bad = [&](const std::string& why) {
    return InvalidArgument("witness url '" + std::string(url) + "': " + why, "bad_witness_url");
  };
  size_t scheme_end;
  if (url.starts_with("http://")) {
    scheme_end = 7;
  } else if (url.starts_with("https://")) {
    scheme_end = 8;
  } else {
    return bad("must start with http:// or https://");
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '?' || c == '#') {
      return bad("no spaces, control characters, query or fragment");
    }
  }
  const size_t slash = url.find('/', scheme_end);
  WitnessUrl out;
  out.scheme_host_port = std::string(url.substr(0, slash));
  if (out.scheme_host_port.size() == scheme_end) return bad("no host");
  if (out.scheme_host_port.find('@') != std::string::npos) return bad("no user info");
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : url.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  out.path = std::string(path) + "/add-checkpoint";
  return out;
}

WitnessClient::WitnessClient(LedgerLog& log, db::Store& store, const Clock& clock, WitnessOptions opts,
                             Metrics* metrics)
    : log_(log), store_(store), clock_(clock), opts_(std::move(opts)), metrics_(metrics) {
  states_.resize(opts_.witnesses.size());
  for (size_t i = 0; i < opts_.witnesses.size(); ++i) {
    auto url = parse_witness_url(opts_.witnesses[i].url);
    // The config checked the url; an unusable one gets a client that can reach nothing.
    states_[i].http = std::make_unique<WitnessHttp>(url.ok() ? *url : WitnessUrl{"http://invalid.invalid", "/"},
                                                    opts_.witnesses[i].timeout);
  }
}

WitnessClient::~WitnessClient() { stop(); }

void WitnessClient::start() {
  std::lock_guard lk(run_mu_);
  if (thread_.joinable() || opts_.witnesses.empty()) return;
  stop_ = false;
  pending_ = true;  // the newest checkpoint may not be cosigned yet
  thread_ = std::thread([this] { run(); });
}

void WitnessClient::stop() {
  {
    std::lock_guard lk(run_mu_);
    stop_ = true;
  }
  run_cv_.notify_all();
  for (auto& s : states_) s.http->stop();  // cuts a request in flight short
  if (thread_.joinable()) thread_.join();
}

void WitnessClient::notify() {
  {
    std::lock_guard lk(run_mu_);
    pending_ = true;
  }
  run_cv_.notify_all();
}

void WitnessClient::run() {
  const auto tick = std::min<std::chrono::milliseconds>(std::chrono::seconds(1), opts_.retry_interval);
  for (;;) {
    {
      std::unique_lock lk(run_mu_);
      run_cv_.wait_for(lk, tick, [&] { return stop_ || pending_; });
      if (stop_) return;
      pending_ = false;
    }
    sync_once();
  }
}

void WitnessClient::count(const char* metric, size_t i) {
  if (metrics_) metrics_->inc(metric, "witness=\"" + Metrics::label_value(opts_.witnesses[i].key.name) + "\"");
}

void WitnessClient::sync_once() {
  auto cp = store_.tree_checkpoint_at_most(std::numeric_limits<int64_t>::max());
  if (!cp.ok()) {
    if (cp.status().code() != ErrorCode::kNotFound) spdlog::warn("witnesses: {}", cp.status().to_string());
    return;
  }
  auto stored = store_.list_cosignatures(cp->size);
  const int64_t now_ms = to_unix_millis(clock_.now());
  std::lock_guard lk(submit_mu_);
  for (size_t i = 0; i < opts_.witnesses.size(); ++i) {
    State& st = states_[i];
    const std::string& name = opts_.witnesses[i].key.name;
    if (st.attempted_size == cp->size &&
        (st.attempt_final || now_ms - st.attempted_at_ms < opts_.retry_interval.count())) {
      continue;
    }
    if (stored.ok() && std::any_of(stored->begin(), stored->end(), [&](const db::Cosignature& c) { return c.witness == name; })) {
      st.known_size = static_cast<uint64_t>(cp->size);  // cosigned before (e.g. before a restart)
      st.attempted_size = cp->size;
      st.attempt_final = true;
      continue;
    }
    WitnessResult r = submit_locked(i, *cp);
    st.attempted_size = cp->size;
    st.attempted_at_ms = now_ms;
    st.attempt_final = r.outcome != WitnessOutcome::kTransient;
    switch (r.outcome) {
      case WitnessOutcome::kCosigned:
        if (!st.last_message.empty()) spdlog::info("witness {}: cosigning again", name);
        spdlog::debug("witness {}: {}", name, r.message);
        st.last_message.clear();
        break;
      case WitnessOutcome::kConflict:
        spdlog::error("witness {}: CONFLICT: {}", name, r.message);
        st.last_message = r.message;
        break;
      case WitnessOutcome::kRefused:
      case WitnessOutcome::kTransient:
        if (r.message != st.last_message) spdlog::warn("witness {}: {}", name, r.message);
        st.last_message = r.message;
        break;
    }
  }
}

WitnessResult WitnessClient::submit(size_t i, const db::TreeCheckpoint& cp) {
  std::lock_guard lk(submit_mu_);
  return submit_locked(i, cp);
}

WitnessResult WitnessClient::submit_locked(size_t i, const db::TreeCheckpoint& cp) {
  WitnessResult r = attempt(i, cp);
  switch (r.outcome) {
    case WitnessOutcome::kCosigned: count("keymgr_witness_cosignatures_total", i); break;
    case WitnessOutcome::kConflict: count("keymgr_witness_conflicts_total", i); break;
    default: count("keymgr_witness_errors_total", i); break;
  }
  return r;
}

WitnessResult WitnessClient::attempt(size_t i, const db::TreeCheckpoint& cp) {
  State& st = states_[i];
  const uint64_t n = static_cast<uint64_t>(cp.size);
  auto signed_note = note::parse_note(cp.note);
  if (!signed_note.ok()) return result(WitnessOutcome::kRefused, "checkpoint " + std::to_string(n) + " is not a signed note");
  uint64_t old = st.known_size <= n ? st.known_size : 0;
  for (int round = 0; round < 2; ++round) {
    auto proof = log_.prove_consistency(static_cast<int64_t>(old), cp.size);
    if (!proof.ok()) return result(WitnessOutcome::kTransient, "consistency proof: " + proof.status().to_string());
    auto body = tlog::format_consistency_proof(tlog::ConsistencyProofFile{old, proof->path, *signed_note});
    if (!body.ok()) return result(WitnessOutcome::kRefused, "request: " + body.status().to_string());
    auto ans = st.http->post(*body);
    const std::string what = "checkpoint " + std::to_string(n) + " (old " + std::to_string(old) + "): ";
    if (!ans.ok()) return result(WitnessOutcome::kTransient, what + ans.status().message());
    const int code = ans->status;
    if (code == 200) {
      WitnessResult r = handle_cosignatures(i, cp, signed_note->text, ans->body);
      if (r.outcome == WitnessOutcome::kCosigned) st.known_size = n;
      r.message = what + r.message;
      return r;
    }
    if (code == 409) {
      auto size = parse_size_body(ans->body);
      if (!size || !ans->content_type.starts_with("text/x.tlog.size")) {
        return result(WitnessOutcome::kRefused, what + "409 without a text/x.tlog.size body: " + printable(ans->body));
      }
      st.known_size = *size;
      if (*size > n) {
        return result(WitnessOutcome::kConflict,
                      what + "the witness cosigned a checkpoint of size " + std::to_string(*size) +
                          ", larger than this log's newest: it saw a history this log no longer has (rollback or fork)",
                      size);
      }
      if (*size == old) {
        return result(WitnessOutcome::kConflict,
                      what + "the witness cosigned another root for size " + std::to_string(*size) + " (fork)", size);
      }
      if (round == 1) {
        return result(WitnessOutcome::kTransient,
                      what + "the witness's size moved to " + std::to_string(*size) + " while we retried", size);
      }
      old = *size;  // retry once from the witness's size
      continue;
    }
    if (code == 422) {
      return result(WitnessOutcome::kConflict,
                    what + "the witness cannot verify consistency from the checkpoint of size " + std::to_string(old) +
                        " it cosigned to this log's tree (fork): " + printable(ans->body),
                    old);
    }
    return result(code >= 500 ? WitnessOutcome::kTransient : WitnessOutcome::kRefused,
                  what + "HTTP " + std::to_string(code) + ": " + printable(ans->body));
  }
  return result(WitnessOutcome::kTransient, "unreachable");
}

WitnessResult WitnessClient::handle_cosignatures(size_t i, const db::TreeCheckpoint& cp, const std::string& text,
                                                 const std::string& body) {
  const note::NoteKey& key = opts_.witnesses[i].key;
  auto lines = note::parse_signature_lines(body);
  if (!lines.ok()) {
    return result(WitnessOutcome::kRefused, "200 answer is not signature lines: " + lines.status().to_string());
  }
  std::optional<note::NoteSignature> good;
  for (const note::NoteSignature& s : *lines) {
    if (s.name != key.name || s.key_id != key.key_id) continue;  // other keys: ignored (spec)
    uint64_t ts = 0;
    if (Status v = note::verify_cosignature(key, text, s, &ts); !v.ok()) {
      return result(WitnessOutcome::kRefused, "the cosignature does not verify with the configured key: " + v.to_string());
    }
    if (!good) good = s;
  }
  if (!good) {
    return result(WitnessOutcome::kRefused, "no cosignature by the configured key " +
                                                note::verifier_key_string(key) + " in the answer");
  }
  const int64_t now_ms = to_unix_millis(clock_.now());
  if (Status st = store_.add_cosignature({cp.size, key.name, note::format_signature_line(*good), now_ms}); !st.ok()) {
    return result(WitnessOutcome::kTransient, "storing the cosignature: " + st.to_string());
  }
  return result(WitnessOutcome::kCosigned, "cosigned");
}

size_t WitnessClient::valid_cosignatures(const db::TreeCheckpoint& cp) {
  auto signed_note = note::parse_note(cp.note);
  auto cos = store_.list_cosignatures(cp.size);
  if (!signed_note.ok() || !cos.ok()) return 0;
  size_t n = 0;
  for (const WitnessConfig& w : opts_.witnesses) {
    for (const db::Cosignature& c : *cos) {
      if (c.witness != w.key.name) continue;
      auto sigs = note::parse_signature_lines(c.signature_line);
      if (sigs.ok() && sigs->size() == 1 && note::verify_cosignature(w.key, signed_note->text, sigs->front(), nullptr).ok()) {
        ++n;
        break;
      }
    }
  }
  return n;
}

Status WitnessClient::quorum_status() {
  if (opts_.quorum == 0) return Status::Ok();
  constexpr int kLookBack = 10;
  ASSIGN_OR_RETURN(auto cps, store_.list_tree_checkpoints(0, kLookBack));
  std::optional<db::TreeCheckpoint> waiting;  // the oldest checkpoint newer than the last witnessed one
  for (auto& cp : cps) {
    if (valid_cosignatures(cp) >= opts_.quorum) break;
    waiting = std::move(cp);
  }
  if (!waiting) return Status::Ok();
  const int64_t waited_ms = to_unix_millis(clock_.now()) - waiting->ts_ms;
  if (waited_ms <= opts_.quorum_grace.count()) return Status::Ok();
  return Unavailable("the checkpoint of size " + std::to_string(waiting->size) + " has waited " +
                         std::to_string(waited_ms / 1000) + " s for " + std::to_string(opts_.quorum) +
                         " witness cosignatures, and no newer checkpoint has them",
                     "witness_quorum");
}

}  // namespace keymgr
