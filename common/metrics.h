// A small Prometheus-style metrics registry: labelled counters, gauges set by callbacks at scrape
// time, and fixed-bucket histograms. Thread-safe; the hot path takes one short mutex per update.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace keymgr {

class Metrics {
 public:
  // labels: preformatted `key="value",...` (values must be escaped with label_value()).
  void inc(const std::string& name, const std::string& labels, double by = 1);
  void observe(const std::string& name, const std::string& labels, double seconds);
  // Gauges computed at scrape time.
  using GaugeFn = std::function<std::vector<std::pair<std::string, double>>()>;  // labels → value
  void gauge(const std::string& name, const std::string& help, GaugeFn fn);
  void describe(const std::string& name, const std::string& type, const std::string& help);

  // Prometheus text exposition format 0.0.4.
  std::string render() const;

  static std::string label_value(const std::string& v);  // escapes \ " and newlines

  static constexpr std::array<double, 14> kBuckets = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                                      0.1,    0.2,   0.5,   1,     2,    5,    10};

 private:
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, double>> counters_;      // guarded by mu_
  std::map<std::string, std::map<std::string, Histogram>> histograms_;  // guarded by mu_
  std::map<std::string, std::pair<std::string, GaugeFn>> gauges_;       // guarded by mu_
  std::map<std::string, std::pair<std::string, std::string>> meta_;     // name → (type, help)
};

}  // namespace keymgr
