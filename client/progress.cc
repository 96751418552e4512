#include "client/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace gcnserve {
namespace {

constexpr int kBarWidth = 20;

std::string Duration(double seconds) {
  char text[32];
  if (seconds < 60) {
    std::snprintf(text, sizeof text, "%.0fs", seconds);
  } else if (seconds < 3600) {
    std::snprintf(text, sizeof text, "%dm%02ds", static_cast<int>(seconds) / 60,
                  static_cast<int>(seconds) % 60);
  } else {
    std::snprintf(text, sizeof text, "%dh%02dm",
                  static_cast<int>(seconds) / 3600,
                  static_cast<int>(seconds) / 60 % 60);
  }
  return text;
}

}  // namespace

Progress::Progress(std::string label, int64_t total, std::ostream& out,
                   bool enabled, std::chrono::milliseconds min_redraw,
                   Clock clock)
    : enabled_(enabled),
      min_redraw_(min_redraw),
      clock_(std::move(clock)),
      out_(out),
      label_(std::move(label)),
      total_(total) {
  start_ = clock_();
  last_draw_ = start_ - min_redraw_;
}

Progress::~Progress() { Finish(); }

bool Progress::StderrIsTerminal() { return isatty(STDERR_FILENO) == 1; }

void Progress::Add(int64_t n) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mu_);
  done_ += n;
  DrawLocked(/*force=*/false);
}

void Progress::SetStatus(const std::string& status) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mu_);
  status_ = status;
  DrawLocked(/*force=*/false);
}

void Progress::Reset(const std::string& label, int64_t total) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mu_);
  label_ = label;
  total_ = total;
  done_ = 0;
  status_.clear();
  start_ = clock_();
  DrawLocked(/*force=*/true);
}

void Progress::Finish() {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (!drawn_) return;
  DrawLocked(/*force=*/true);
  out_ << "\n" << std::flush;
  drawn_ = false;
}

void Progress::set_show_rate(bool show) {
  std::lock_guard<std::mutex> lock(mu_);
  show_rate_ = show;
}

void Progress::DrawLocked(bool force) {
  auto now = clock_();
  bool complete = total_ > 0 && done_ >= total_;
  if (!force && !complete && now - last_draw_ < min_redraw_) return;
  last_draw_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double rate = elapsed > 0 ? done_ / elapsed : 0;

  std::ostringstream line;
  line << label_;
  if (total_ > 0) {
    double fraction = std::min(1.0, static_cast<double>(done_) / total_);
    int filled = static_cast<int>(std::round(fraction * kBarWidth));
    line << " [" << std::string(filled, '#')
         << std::string(kBarWidth - filled, '.') << "] " << done_ << "/"
         << total_ << " " << static_cast<int>(fraction * 100) << "%";
  } else {
    line << " " << done_;
  }
  if (show_rate_ && elapsed > 0) {
    line << " " << static_cast<int64_t>(std::round(rate)) << "/s";
  }
  if (show_rate_ && total_ > 0 && done_ < total_ && rate > 0) {
    line << " ETA " << Duration((total_ - done_) / rate);
  }
  if (!status_.empty()) line << "  " << status_;
  std::string text = line.str();
  // Blank out what is left of a longer previous line.
  size_t width = text.size();
  if (width < last_width_) text.append(last_width_ - width, ' ');
  last_width_ = width;
  out_ << "\r" << text << std::flush;
  drawn_ = true;
}

}  // namespace gcnserve
