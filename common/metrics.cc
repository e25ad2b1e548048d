#include "common/metrics.h"

#include <charconv>
#include <cstdio>

namespace keymgr {
namespace {
// Shortest text that reads back as the same double ("0.005", not "0.0050000000000000001").
std::string num(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}
std::string braces(const std::string& labels) { return labels.empty() ? "" : "{" + labels + "}"; }
}  // namespace

std::string Metrics::label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void Metrics::inc(const std::string& name, const std::string& labels, double by) {
  std::lock_guard lk(mu_);
  counters_[name][labels] += by;
}

void Metrics::observe(const std::string& name, const std::string& labels, double seconds) {
  std::lock_guard lk(mu_);
  Histogram& h = histograms_[name][labels];
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) h.counts[i]++;
  }
  h.count++;
  h.sum += seconds;
}

void Metrics::gauge(const std::string& name, const std::string& help, GaugeFn fn) {
  std::lock_guard lk(mu_);
  gauges_[name] = {help, std::move(fn)};
}

void Metrics::describe(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard lk(mu_);
  meta_[name] = {type, help};
}

std::string Metrics::render() const {
  std::map<std::string, std::pair<std::string, GaugeFn>> gauges;
  std::string out;
  {
    std::lock_guard lk(mu_);
    gauges = gauges_;
    auto header = [&](const std::string& name, const char* type) {
      auto m = meta_.find(name);
      if (m != meta_.end()) out += "# HELP " + name + " " + m->second.second + "\n";
      out += "# TYPE " + name + " " + type + "\n";
    };
    for (const auto& [name, series] : counters_) {
      header(name, "counter");
      for (const auto& [labels, v] : series) out += name + braces(labels) + " " + num(v) + "\n";
    }
    for (const auto& [name, series] : histograms_) {
      header(name, "histogram");
      for (const auto& [labels, h] : series) {
        const std::string sep = labels.empty() ? "" : labels + ",";
        for (size_t i = 0; i < kBuckets.size(); ++i) {
          out += name + "_bucket{" + sep + "le=\"" + num(kBuckets[i]) + "\"} " + std::to_string(h.counts[i]) + "\n";
        }
        out += name + "_bucket{" + sep + "le=\"+Inf\"} " + std::to_string(h.count) + "\n";
        out += name + "_sum" + braces(labels) + " " + num(h.sum) + "\n";
        out += name + "_count" + braces(labels) + " " + std::to_string(h.count) + "\n";
      }
    }
  }
  // Gauge callbacks run without the lock: they may take other locks.
  for (const auto& [name, g] : gauges) {
    out += "# HELP " + name + " " + g.first + "\n# TYPE " + name + " gauge\n";
    for (const auto& [labels, v] : g.second()) out += name + braces(labels) + " " + num(v) + "\n";
  }
  return out;
}

}  // namespace keymgr
