#ifndef GCNSERVE_CLIENT_PROGRESS_H_
#define GCNSERVE_CLIENT_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <ostream>
#include <string>

namespace gcnserve {

// A one-line progress bar for long runs (eval, bench, many files):
//   eval  [#########.........]  512/1000  51%  230/s  ETA 2s  <status>
// redrawn in place with '\r', at most every `min_redraw` so that progress
// costs nothing next to the work. When disabled (the usual case when the
// stream is not a terminal) it writes nothing at all, so piped output stays
// clean.
//
// Thread-safe: Add() and SetStatus() may be called from gRPC threads.
class Progress {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `total` 0 means unknown: no bar, percentage or ETA. `clock` is for tests.
  Progress(
      std::string label, int64_t total, std::ostream& out, bool enabled,
      std::chrono::milliseconds min_redraw = std::chrono::milliseconds(100),
      Clock clock = std::chrono::steady_clock::now);
  ~Progress();  // Finish()

  // Whether stderr is a terminal: the default for `enabled`.
  static bool StderrIsTerminal();

  // `n` more items done.
  void Add(int64_t n = 1);
  // Free text at the end of the line ("concurrency 4, window 3").
  void SetStatus(const std::string& status);
  // Restarts the count at 0 of `total`, with a new label, e.g. per level.
  void Reset(const std::string& label, int64_t total);
  // Draws the final state and ends the line. Idempotent.
  void Finish();
  // Whether to show items per second and the ETA (default true); off where
  // the items are slow and few, like bench's windows.
  void set_show_rate(bool show);

 private:
  void DrawLocked(bool force);

  const bool enabled_;
  const std::chrono::milliseconds min_redraw_;
  const Clock clock_;
  std::ostream& out_;

  std::mutex mu_;
  std::string label_;                                // guarded by mu_
  std::string status_;                               // guarded by mu_
  int64_t total_ = 0;                                // guarded by mu_
  int64_t done_ = 0;                                 // guarded by mu_
  std::chrono::steady_clock::time_point start_;      // guarded by mu_
  std::chrono::steady_clock::time_point last_draw_;  // guarded by mu_
  size_t last_width_ = 0;  // characters of the last line drawn; mu_
  bool drawn_ = false;     // a line is on screen, unfinished; mu_
  bool show_rate_ = true;  // guarded by mu_
};

}  // namespace gcnserve

#endif  // GCNSERVE_CLIENT_PROGRESS_H_
