#include "server/monitoring/drift_monitor.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace gcnserve {

DriftMonitor::DriftMonitor(DriftReference reference, int input_width,
                           int input_height, const Options& options,
                           Clock* clock)
    : reference_(std::move(reference)),
      input_width_(input_width),
      input_height_(input_height),
      options_(options),
      clock_(clock),
      ring_(static_cast<size_t>(std::max(1, options.window_requests))) {
  for (const DriftReference::Signal& signal : reference_.signals) {
    counts_.emplace_back(signal.fractions.size(), 0);
  }
}

std::array<double, kDriftSignals> DriftMonitor::SignalsOf(
    const ModelOutput& output, int row, int input_width, int input_height) {
  std::array<double, kDriftSignals> s{};
  const float* p = output.probabilities.data() +
                   static_cast<size_t>(row) * output.classes;
  const int best = static_cast<int>(std::max_element(p, p + output.classes) - p);
  s[static_cast<int>(DriftSignal::kPredictedClass)] = best;
  s[static_cast<int>(DriftSignal::kConfidence)] = p[best];
  const int k = output.points;
  if (k == 0) return s;
  const size_t base = static_cast<size_t>(row) * k;
  const float* xy = output.point_xy.data() + base * 2;
  double score = 0, cx = 0, cy = 0;
  int border = 0;
  for (int i = 0; i < k; ++i) {
    const double x = static_cast<double>(xy[2 * i]) / input_width;
    const double y = static_cast<double>(xy[2 * i + 1]) / input_height;
    cx += x;
    cy += y;
    score += output.point_scores[base + i];
    border += x < kDriftBorder || x > 1 - kDriftBorder || y < kDriftBorder ||
              y > 1 - kDriftBorder;
  }
  cx /= k;
  cy /= k;
  double spread = 0;
  for (int i = 0; i < k; ++i) {
    const double dx = static_cast<double>(xy[2 * i]) / input_width - cx;
    const double dy = static_cast<double>(xy[2 * i + 1]) / input_height - cy;
    spread += dx * dx + dy * dy;
  }
  double adjacency = 0;
  const float* a = output.adjacency.data() + base * k;
  for (size_t i = 0, n = static_cast<size_t>(k) * k; i < n; ++i) adjacency += a[i];
  s[static_cast<int>(DriftSignal::kAttention)] = score / k;
  s[static_cast<int>(DriftSignal::kCentroidX)] = cx;
  s[static_cast<int>(DriftSignal::kCentroidY)] = cy;
  s[static_cast<int>(DriftSignal::kSpread)] = std::sqrt(spread / k);
  s[static_cast<int>(DriftSignal::kBorder)] = static_cast<double>(border) / k;
  s[static_cast<int>(DriftSignal::kAdjacency)] =
      adjacency / (static_cast<double>(k) * k);
  return s;
}

int DriftMonitor::Bin(const std::vector<double>& edges, double value) {
  return static_cast<int>(std::upper_bound(edges.begin(), edges.end(), value) -
                          edges.begin());
}

double DriftMonitor::Psi(const std::vector<double>& reference,
                         const std::vector<int64_t>& counts, int64_t total,
                         double epsilon) {
  const double norm = 1 + epsilon * static_cast<double>(reference.size());
  double psi = 0;
  for (size_t b = 0; b < reference.size(); ++b) {
    const double p =
        (static_cast<double>(counts[b]) / static_cast<double>(total) + epsilon) /
        norm;
    const double q = (reference[b] + epsilon) / norm;
    psi += (p - q) * std::log(p / q);
  }
  return psi;
}

void DriftMonitor::Record(const ModelOutput& output, int row) {
  const std::array<double, kDriftSignals> values =
      SignalsOf(output, row, input_width_, input_height_);
  Entry entry{clock_->Now(), {}};
  for (size_t i = 0; i < reference_.signals.size(); ++i) {
    const DriftReference::Signal& signal = reference_.signals[i];
    const double v = values[static_cast<int>(signal.signal)];
    const int last = static_cast<int>(signal.fractions.size()) - 1;
    entry.bins[i] = static_cast<uint16_t>(
        signal.signal == DriftSignal::kPredictedClass
            ? std::clamp(static_cast<int>(v), 0, last)
            : Bin(signal.edges, v));
  }
  std::lock_guard<std::mutex> lock(mu_);
  DropExpired(entry.time);
  if (size_ == ring_.size()) DropOldest();
  ring_[(head_ + size_) % ring_.size()] = entry;
  ++size_;
  for (size_t i = 0; i < counts_.size(); ++i) ++counts_[i][entry.bins[i]];
}

int DriftMonitor::Requests() {
  std::lock_guard<std::mutex> lock(mu_);
  DropExpired(clock_->Now());
  return static_cast<int>(size_);
}

std::optional<DriftMonitor::Score> DriftMonitor::Compute() {
  std::lock_guard<std::mutex> lock(mu_);
  DropExpired(clock_->Now());
  if (size_ == 0 || size_ < static_cast<size_t>(options_.min_requests)) {
    return std::nullopt;
  }
  Score score;
  score.requests = static_cast<int>(size_);
  for (size_t i = 0; i < counts_.size(); ++i) {
    const double psi = Psi(reference_.signals[i].fractions, counts_[i],
                           static_cast<int64_t>(size_), options_.epsilon);
    score.signals.emplace_back(reference_.signals[i].signal, psi);
    score.max = std::max(score.max, psi);
  }
  return score;
}

void DriftMonitor::DropOldest() {
  const Entry& oldest = ring_[head_];
  for (size_t i = 0; i < counts_.size(); ++i) --counts_[i][oldest.bins[i]];
  head_ = (head_ + 1) % ring_.size();
  --size_;
}

void DriftMonitor::DropExpired(Clock::TimePoint now) {
  while (size_ > 0 && now - ring_[head_].time > options_.window) DropOldest();
}

}  // namespace gcnserve
