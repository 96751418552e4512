#ifndef GCNSERVE_SERVER_MONITORING_DRIFT_MONITOR_H_
#define GCNSERVE_SERVER_MONITORING_DRIFT_MONITOR_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "server/base/clock.h"
#include "server/runner/drift_reference.h"
#include "server/runner/model_runner.h"

namespace gcnserve {

// What one model version's recent answers look like next to its export's
// reference (docs/design.md, "Drift"). Owns a fixed-size ring of the last
// `window_requests` answers, each kept as its bin per signal and its time;
// answers older than `window` drop out too. The bins' counts are kept as the
// ring changes, so Record and Score cost O(signals) and O(bins), and memory
// is fixed by the options. Thread-safe: Record on the batch threads, Score on
// the scrape.
class DriftMonitor {
 public:
  struct Options {
    int window_requests = 1000;  // the last N answers, at most
    Clock::Duration window = std::chrono::minutes(10);  // and none older
    int min_requests = 200;  // fewer in the window: no score
    double epsilon = 1e-3;   // added to each bin's share on both sides
  };

  // The score of the window: the population stability index of each signal
  // against the reference, and their largest.
  struct Score {
    int requests = 0;  // answers in the window
    double max = 0;
    std::vector<std::pair<DriftSignal, double>> signals;  // reference order
  };

  // `input_width`/`height` are the model's input size (the points' pixels).
  DriftMonitor(DriftReference reference, int input_width, int input_height,
               const Options& options, Clock* clock);

  // Adds row `row` of `output`: the answer to one request.
  void Record(const ModelOutput& output, int row);
  // The score now; nullopt while the window holds fewer than min_requests.
  std::optional<Score> Compute();
  // Answers in the window now.
  int Requests();
  const Options& options() const { return options_; }

  // Each signal of row `row` (graph signals 0 without points).
  static std::array<double, kDriftSignals> SignalsOf(const ModelOutput& output,
                                                     int row, int input_width,
                                                     int input_height);
  // The bin of `value`: the number of edges at or below it.
  static int Bin(const std::vector<double>& edges, double value);
  // sum over bins of (p - q) ln(p / q), p and q the live and reference
  // shares each plus `epsilon`, renormalized; `counts` sum to `total` > 0.
  static double Psi(const std::vector<double>& reference,
                    const std::vector<int64_t>& counts, int64_t total,
                    double epsilon);

 private:
  struct Entry {
    Clock::TimePoint time;
    std::array<uint16_t, kDriftSignals> bins;  // [i] for reference signal i
  };
  void DropOldest() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropExpired(Clock::TimePoint now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const DriftReference reference_;
  const int input_width_;
  const int input_height_;
  const Options options_;
  Clock* const clock_;

  std::mutex mu_;
  // ring_[(head_ + i) % size] for i < size_, oldest first; its capacity is
  // window_requests and never changes.
  std::vector<Entry> ring_ ABSL_GUARDED_BY(mu_);
  size_t head_ ABSL_GUARDED_BY(mu_) = 0;
  size_t size_ ABSL_GUARDED_BY(mu_) = 0;
  // counts_[i][b]: entries of the ring in bin b of reference signal i.
  std::vector<std::vector<int64_t>> counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_MONITORING_DRIFT_MONITOR_H_
