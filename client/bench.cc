#include "client/bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <utility>

namespace gcnserve {
namespace {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;

int64_t MicrosSince(TimePoint start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             SteadyClock::now() - start)
      .count();
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

int ThreadCount() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  }
  return 0;
}

// What every load shares: the client, the prepared requests, where answers
// go, and the count of calls in flight, which Stop() waits to reach zero.
class Load {
 public:
  Load(ClassifierClient* client,
       const std::vector<v1::ClassifyRequest>* requests,
       BenchRecorder* recorder)
      : client_(client), requests_(requests), recorder_(recorder) {}
  virtual ~Load() = default;

  virtual void Start() = 0;
  // Stops sending and returns when every call it started has ended.
  virtual void Stop() = 0;
  int64_t skipped() const { return skipped_.load(); }

 protected:
  const v1::ClassifyRequest& NextRequest() {
    return (*requests_)[next_++ % requests_->size()];
  }
  void BeginCall() {
    std::lock_guard<std::mutex> lock(mu_);
    ++in_flight_;
  }
  // The last thing a call's callback does: `this` may be gone right after.
  void EndCall() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--in_flight_ == 0) idle_.notify_all();
  }
  int InFlight() {
    std::lock_guard<std::mutex> lock(mu_);
    return in_flight_;
  }
  // Waits for the calls in flight to end (their deadlines bound the wait).
  void WaitIdle() {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [&] { return in_flight_ == 0; });
  }

  // Sends one unary Classify; `start` is when it was due, which is what its
  // latency counts from (so a late send is not hidden). `then` runs after
  // the answer is recorded.
  void SendUnary(TimePoint start, std::function<void()> then) {
    struct Call {
      grpc::ClientContext context;
      v1::ClassifyResponse response;
    };
    auto* call = new Call;
    client_->SetDeadline(call->context);
    BeginCall();
    client_->stub().async()->Classify(
        &call->context, &NextRequest(), &call->response,
        [this, call, start, then = std::move(then)](grpc::Status status) {
          int64_t latency = MicrosSince(start);
          recorder_->Record(
              status.ok() ? BenchSample::FromResponse(latency, call->response)
                          : BenchSample::Failed(latency, status.error_code()));
          delete call;
          if (then) then();
          EndCall();
        });
  }

  ClassifierClient* const client_;
  const std::vector<v1::ClassifyRequest>* const requests_;
  BenchRecorder* const recorder_;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> skipped_{0};

 private:
  std::atomic<uint64_t> next_{0};
  std::mutex mu_;
  std::condition_variable idle_;
  int in_flight_ = 0;  // guarded by mu_
};

// One ClassifyStream that sends the items given to Send() in order, keeps
// reading answers, matches them to their items by request_id, and records
// each. Deletes itself when the call ends.
//
// Send() and Close() are called from outside gRPC's reactions (the pacing
// thread, Bench's thread). gRPC allows that only while a hold keeps the call
// from finishing, so the stream holds one from its start until it is closed
// or its server side has ended, whichever comes first; after that, Send()
// and Close() do nothing.
class BenchStream : public grpc::ClientBidiReactor<v1::ClassifyRequest,
                                                   v1::ClassifyResponse> {
 public:
  struct Owner {
    virtual ~Owner() = default;
    // An item was answered; runs in a reaction, without the stream's lock,
    // so Send() may be called from here.
    virtual void OnAnswer(BenchStream* stream) = 0;
    // The call ended; `stream` is deleted right after, then OnStreamGone().
    virtual void OnStreamEnding(BenchStream* stream) = 0;
    virtual void OnStreamGone(const grpc::Status& status) = 0;
  };

  // The call ends by `deadline` at the latest, answered or not.
  BenchStream(ClassifierClient* client, BenchRecorder* recorder, Owner* owner,
              std::chrono::system_clock::time_point deadline)
      : recorder_(recorder), owner_(owner) {
    context_.set_deadline(deadline);
    client->stub().async()->ClassifyStream(&context_, this);
    AddHold();
    StartRead(&response_);
    StartCall();
  }

  // Queues `request` (copied, with a fresh request_id) due at `due`.
  void Send(const v1::ClassifyRequest& request, TimePoint due) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!held_) return;
    std::string id = std::to_string(next_id_++);
    due_[id] = due;
    writes_.emplace_back(request);
    writes_.back().set_request_id(id);
    if (!writing_) {
      writing_ = true;
      StartWrite(&writes_.front());
    }
  }
  // No more items: half-closes once the queued ones are written.
  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!held_) return;
      held_ = false;
      closing_ = true;
      if (!writing_ && !write_failed_) StartWritesDone();
    }
    RemoveHold();
  }
  // Items sent and not yet answered.
  size_t Pending() {
    std::lock_guard<std::mutex> lock(mu_);
    return due_.size();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writes_.pop_front();
    if (!ok) {  // the call is ending; the read side ends too
      writing_ = false;
      write_failed_ = true;
      return;
    }
    if (!writes_.empty()) {
      StartWrite(&writes_.front());
    } else {
      writing_ = false;
      if (closing_) StartWritesDone();
    }
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the server side ended: nothing more to send
      bool release;
      {
        std::lock_guard<std::mutex> lock(mu_);
        release = held_;
        held_ = false;
      }
      if (release) RemoveHold();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = due_.find(response_.request_id());
      if (it != due_.end()) {
        recorder_->Record(
            BenchSample::FromResponse(MicrosSince(it->second), response_));
        due_.erase(it);
      }
    }
    StartRead(&response_);
    owner_->OnAnswer(this);
  }

  void OnDone(const grpc::Status& status) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      // Items the call ended without answering failed with the call.
      grpc::StatusCode code =
          status.ok() ? grpc::StatusCode::UNKNOWN : status.error_code();
      for (const auto& [id, due] : due_) {
        recorder_->Record(BenchSample::Failed(MicrosSince(due), code));
      }
      due_.clear();
    }
    // Deleted before the owner hears the end: once it has, the program may
    // shut gRPC down, and a ClientContext must not outlive that.
    Owner* owner = owner_;
    owner->OnStreamEnding(this);
    delete this;
    owner->OnStreamGone(status);
  }

 private:
  grpc::ClientContext context_;
  v1::ClassifyResponse response_;
  BenchRecorder* const recorder_;
  Owner* const owner_;

  std::mutex mu_;
  std::deque<v1::ClassifyRequest> writes_;  // front is being written; mu_
  std::map<std::string, TimePoint> due_;    // sent, unanswered; mu_
  int64_t next_id_ = 0;                     // guarded by mu_
  bool held_ = true;           // the hold is on: Send() may write; mu_
  bool writing_ = false;       // a write is in flight; mu_
  bool closing_ = false;       // half-close after the queued writes; mu_
  bool write_failed_ = false;  // guarded by mu_
};

// Closed loop, unary: `concurrency` calls in flight, each answer sends the
// next.
class ClosedLoopUnary : public Load {
 public:
  ClosedLoopUnary(ClassifierClient* client,
                  const std::vector<v1::ClassifyRequest>* requests,
                  BenchRecorder* recorder, int concurrency)
      : Load(client, requests, recorder), concurrency_(concurrency) {}

  void Start() override {
    for (int i = 0; i < concurrency_; ++i) Send();
  }
  void Stop() override {
    stopping_ = true;
    WaitIdle();
  }

 private:
  void Send() {
    if (stopping_) return;
    SendUnary(SteadyClock::now(), [this] { Send(); });
  }
  const int concurrency_;
};

// The streams of a load. Streams delete themselves when their call ends, so
// they are only touched under `mu_` while listed in `live_` (or from their
// own reactions).
class StreamSet : public BenchStream::Owner {
 public:
  // Streams end by `lifetime` after they open, at the latest.
  StreamSet(ClassifierClient* client, BenchRecorder* recorder,
            std::chrono::milliseconds lifetime)
      : client_(client), recorder_(recorder), lifetime_(lifetime) {}

  // Opens a stream and sends `first` (when given) on it.
  void Open(const v1::ClassifyRequest* first, TimePoint due) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return;
    auto* stream = new BenchStream(
        client_, recorder_, this, std::chrono::system_clock::now() + lifetime_);
    live_.push_back(stream);
    if (first != nullptr) stream->Send(*first, due);
  }
  // Sends `request` on the next live stream in turn, unless the streams
  // hold `limit` unanswered items. False when not sent.
  bool SendInTurn(const v1::ClassifyRequest& request, TimePoint due,
                  size_t limit) {
    std::lock_guard<std::mutex> lock(mu_);
    if (live_.empty()) return false;
    size_t pending = 0;
    for (BenchStream* stream : live_) pending += stream->Pending();
    if (pending >= limit) return false;
    live_[turn_++ % live_.size()]->Send(request, due);
    return true;
  }
  // Half-closes every stream and waits until they are gone (their deadline
  // bounds the wait).
  void CloseAll() {
    std::unique_lock<std::mutex> lock(mu_);
    closing_ = true;
    for (BenchStream* stream : live_) stream->Close();
    ended_.wait(lock, [&] { return Idle(); });
  }

  void OnAnswer(BenchStream* stream) override {
    if (on_answer_) on_answer_(stream);
  }
  void OnStreamEnding(BenchStream* stream) override {
    std::lock_guard<std::mutex> lock(mu_);
    live_.erase(std::find(live_.begin(), live_.end(), stream));
    ++ending_;
  }
  void OnStreamGone(const grpc::Status& status) override {
    std::unique_lock<std::mutex> lock(mu_);
    --ending_;
    // A stream that ends under load is replaced, as a failed unary call is
    // followed by the next one. CloseAll() waits for that to finish.
    if (!closing_ && on_replace_) {
      ++replacing_;
      lock.unlock();
      on_replace_();
      lock.lock();
      --replacing_;
    }
    if (Idle()) ended_.notify_all();
  }

  // Run on gRPC threads: after an answer, and when a stream needs a
  // successor. Set before the first Open().
  std::function<void(BenchStream*)> on_answer_;
  std::function<void()> on_replace_;

 private:
  ClassifierClient* const client_;
  BenchRecorder* const recorder_;
  const std::chrono::milliseconds lifetime_;
  std::mutex mu_;
  std::condition_variable ended_;
  std::vector<BenchStream*> live_;  // guarded by mu_
  size_t turn_ = 0;                 // guarded by mu_
  bool closing_ = false;            // guarded by mu_
  int ending_ = 0;     // streams between OnStreamEnding and Gone; mu_
  int replacing_ = 0;  // on_replace_ calls running; mu_

  bool Idle() const { return live_.empty() && ending_ == 0 && replacing_ == 0; }
};

// Closed loop, streaming: one stream per unit of concurrency, one item in
// flight on each; an answer sends the next item on the same stream.
class ClosedLoopStream : public Load {
 public:
  ClosedLoopStream(ClassifierClient* client,
                   const std::vector<v1::ClassifyRequest>* requests,
                   BenchRecorder* recorder, int concurrency,
                   std::chrono::milliseconds lifetime)
      : Load(client, requests, recorder),
        concurrency_(concurrency),
        streams_(client, recorder, lifetime) {
    streams_.on_answer_ = [this](BenchStream* stream) {
      if (!stopping_) stream->Send(NextRequest(), SteadyClock::now());
    };
    streams_.on_replace_ = [this] { OpenOne(); };
  }

  void Start() override {
    for (int i = 0; i < concurrency_; ++i) OpenOne();
  }
  void Stop() override {
    stopping_ = true;
    streams_.CloseAll();
  }

 private:
  void OpenOne() {
    if (stopping_) return;
    streams_.Open(&NextRequest(), SteadyClock::now());
  }
  const int concurrency_;
  StreamSet streams_;
};

// Open loop: a pacing thread sends requests at `rate` per second, evenly
// spaced or with Poisson arrivals, over unary calls or over streams.
class OpenLoop : public Load {
 public:
  OpenLoop(ClassifierClient* client,
           const std::vector<v1::ClassifyRequest>* requests,
           BenchRecorder* recorder, double rate, const BenchOptions& options,
           std::chrono::milliseconds lifetime)
      : Load(client, requests, recorder),
        rate_(rate),
        options_(options),
        random_(options.seed),
        streams_(client, recorder, lifetime) {
    streams_.on_replace_ = [this] {
      std::lock_guard<std::mutex> lock(reopen_mu_);
      ++reopen_;
    };
  }

  void Start() override {
    if (options_.streaming) {
      for (int i = 0; i < options_.streams; ++i) {
        streams_.Open(nullptr, SteadyClock::now());
      }
    }
    pacer_ = std::thread([this] { Pace(); });
  }
  void Stop() override {
    {
      std::lock_guard<std::mutex> lock(pace_mu_);
      stopping_ = true;
    }
    pace_cv_.notify_all();
    pacer_.join();
    if (options_.streaming) streams_.CloseAll();
    WaitIdle();
  }

 private:
  std::chrono::nanoseconds Gap() {
    double seconds = 1.0 / rate_;
    if (options_.arrivals == Arrivals::kPoisson) {
      seconds = std::exponential_distribution<double>(rate_)(random_);
    }
    return std::chrono::nanoseconds(static_cast<int64_t>(seconds * 1e9));
  }

  void Pace() {
    TimePoint due = SteadyClock::now();
    while (true) {
      due += Gap();
      {
        std::unique_lock<std::mutex> lock(pace_mu_);
        if (pace_cv_.wait_until(lock, due, [&] { return stopping_.load(); })) {
          return;
        }
      }
      if (options_.streaming) {
        ReopenFailedStreams();
        if (!streams_.SendInTurn(
                NextRequest(), due,
                static_cast<size_t>(options_.max_outstanding))) {
          ++skipped_;
        }
      } else {
        if (InFlight() >= options_.max_outstanding) {
          ++skipped_;
          continue;
        }
        SendUnary(due, nullptr);
      }
    }
  }

  // Streams are reopened from the pacing thread, which owns the schedule.
  void ReopenFailedStreams() {
    int reopen;
    {
      std::lock_guard<std::mutex> lock(reopen_mu_);
      reopen = reopen_;
      reopen_ = 0;
    }
    for (int i = 0; i < reopen; ++i) streams_.Open(nullptr, SteadyClock::now());
  }

  const double rate_;
  const BenchOptions& options_;
  std::mt19937_64 random_;  // used by the pacing thread only
  StreamSet streams_;
  std::thread pacer_;
  std::mutex pace_mu_;
  std::condition_variable pace_cv_;
  std::mutex reopen_mu_;
  int reopen_ = 0;  // streams that failed, to replace; reopen_mu_
};

std::string Trim(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t");
  size_t end = text.find_last_not_of(" \t");
  return begin == std::string::npos ? "" : text.substr(begin, end - begin + 1);
}

bool ToDouble(const std::string& text, double& out) {
  std::string trimmed = Trim(text);
  if (trimmed.empty()) return false;
  char* end = nullptr;
  out = std::strtod(trimmed.c_str(), &end);
  return end == trimmed.c_str() + trimmed.size() && std::isfinite(out);
}

}  // namespace

absl::StatusOr<std::vector<double>> ParseLevels(const std::string& spec) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError("bad levels '" + spec + "': " + why +
                                      " (a list 1,2,4 or a range 1:64, "
                                      "1:64:x2, 100:400:100)");
  };
  std::vector<double> levels;
  if (spec.find(':') != std::string::npos) {
    std::vector<std::string> parts;
    std::stringstream in(spec);
    for (std::string part; std::getline(in, part, ':');) parts.push_back(part);
    if (parts.size() < 2 || parts.size() > 3) return bad("START:END[:STEP]");
    double start, end, step = 2;
    bool multiply = true;
    if (!ToDouble(parts[0], start) || !ToDouble(parts[1], end)) {
      return bad("START and END are numbers");
    }
    if (parts.size() == 3) {
      std::string s = Trim(parts[2]);
      multiply = !s.empty() && (s[0] == 'x' || s[0] == '*');
      if (!ToDouble(multiply ? s.substr(1) : s, step)) return bad("bad STEP");
      if ((multiply && step <= 1) || (!multiply && step <= 0)) {
        return bad("STEP must grow the level");
      }
    }
    if (start <= 0 || end < start) return bad("need 0 < START <= END");
    for (double level = start; level <= end * (1 + 1e-9);
         level = multiply ? level * step : level + step) {
      levels.push_back(level);
      if (levels.size() > 1000) return bad("more than 1000 levels");
    }
  } else {
    std::stringstream in(spec);
    for (std::string part; std::getline(in, part, ',');) {
      double level;
      if (!ToDouble(part, level)) return bad("'" + part + "' is not a number");
      if (level <= 0) return bad("levels must be above 0");
      levels.push_back(level);
    }
    if (levels.empty()) return bad("no level");
  }
  return levels;
}

absl::StatusOr<std::unique_ptr<Bench>> Bench::Create(ClassifierClient* client,
                                                     BenchOptions options) {
  auto bad = [](const std::string& why) {
    return absl::InvalidArgumentError(why);
  };
  if (options.images.empty()) return bad("bench needs at least one image");
  if (options.levels.empty()) return bad("bench needs at least one level");
  for (double level : options.levels) {
    if (!(level > 0)) return bad("load levels must be above 0");
    if (options.mode == LoadMode::kClosedLoop &&
        (level != std::floor(level) || level > 100000)) {
      return bad(
          "a concurrency is a whole number of requests (1 to 100000), not " +
          std::to_string(level));
    }
  }
  if (options.streams < 1) return bad("--streams must be at least 1");
  if (options.max_outstanding < 1)
    return bad("--max-outstanding must be at least 1");
  if (options.warmup.count() < 0) return bad("--warmup-s must not be negative");
  if (options.duration.count() < 0)
    return bad("--duration-s must not be negative");
  if (options.duration.count() == 0) {
    if (options.window.count() <= 0) return bad("--window-ms must be positive");
    if (options.stable_windows < 1 ||
        options.max_windows < options.stable_windows) {
      return bad("need 1 <= --stable-windows <= --max-windows");
    }
    if (!(options.stability > 0)) return bad("--stability must be positive");
  }
  if (options.top_k < 0) return bad("--top-k must not be negative");
  return std::unique_ptr<Bench>(new Bench(client, std::move(options)));
}

Bench::Bench(ClassifierClient* client, BenchOptions options)
    : client_(client), options_(std::move(options)) {
  for (const std::string& image : options_.images) {
    v1::ClassifyRequest request;
    request.set_model(options_.model);
    request.set_version(options_.version);
    request.set_graph(options_.graph);
    request.set_top_k(options_.top_k);
    request.set_image(image);
    requests_.push_back(std::move(request));
  }
}

BenchResult Bench::Run(Progress* progress) {
  BenchResult result;
  result.target = client_->options().target;
  result.options = options_;
  result.options.images.clear();
  result.image_count = static_cast<int>(options_.images.size());
  for (double level : options_.levels) {
    result.levels.push_back(RunLevel(level, progress));
  }
  if (progress != nullptr) progress->Finish();
  return result;
}

BenchLevel Bench::RunLevel(double level, Progress* progress) {
  const bool fixed = options_.duration.count() > 0;
  const bool closed = options_.mode == LoadMode::kClosedLoop;
  char label[64];
  std::snprintf(label, sizeof label, closed ? "concurrency %.0f" : "%.6g req/s",
                level);
  if (progress != nullptr)
    progress->Reset(label, fixed ? 1 : options_.max_windows);

  // A stream lives at most through the level, and then a deadline's worth.
  const std::chrono::milliseconds lifetime =
      options_.warmup +
      (fixed ? options_.duration : options_.window * options_.max_windows) +
      std::chrono::milliseconds(client_->options().deadline_ms);
  std::unique_ptr<Load> load;
  if (!closed) {
    load = std::make_unique<OpenLoop>(client_, &requests_, &recorder_, level,
                                      options_, lifetime);
  } else if (options_.streaming) {
    load = std::make_unique<ClosedLoopStream>(
        client_, &requests_, &recorder_, static_cast<int>(level), lifetime);
  } else {
    load = std::make_unique<ClosedLoopUnary>(client_, &requests_, &recorder_,
                                             static_cast<int>(level));
  }
  load->Start();
  if (options_.warmup.count() > 0) {
    if (progress != nullptr) progress->SetStatus("warming up");
    std::this_thread::sleep_for(options_.warmup);
  }

  const int64_t skipped_before = load->skipped();
  const double cpu_start = CpuSeconds();
  const TimePoint start = SteadyClock::now();
  recorder_.StartMeasuring();
  std::vector<std::vector<BenchSample>> windows;
  std::vector<BenchSummary> summaries;
  std::vector<double> seconds;
  BenchLevel result;
  result.level = level;
  TimePoint window_start = start;
  while (true) {
    std::this_thread::sleep_for(fixed ? options_.duration : options_.window);
    windows.push_back(recorder_.TakeWindow());
    TimePoint now = SteadyClock::now();
    seconds.push_back(
        std::chrono::duration<double>(now - window_start).count());
    window_start = now;
    summaries.push_back(BenchSummary::Of(windows.back(), seconds.back()));
    if (progress != nullptr) {
      char status[96];
      std::snprintf(status, sizeof status, "window %zu: %.1f/s, p50 %.2f ms",
                    summaries.size(), summaries.back().throughput,
                    summaries.back().latency_p50_ms);
      progress->Add();
      progress->SetStatus(status);
    }
    if (fixed) break;
    if (IsStable(summaries, options_.stable_windows, options_.stability)) {
      result.stable = true;
      break;
    }
    if (static_cast<int>(summaries.size()) >= options_.max_windows) break;
  }
  const double elapsed =
      std::chrono::duration<double>(SteadyClock::now() - start).count();
  result.client_cpu = elapsed > 0 ? (CpuSeconds() - cpu_start) / elapsed : 0;
  result.client_threads = ThreadCount();
  result.skipped = load->skipped() - skipped_before;
  recorder_.StopMeasuring();
  load->Stop();

  // The level's figures: its last `stable_windows` windows together.
  size_t keep =
      fixed ? 1 : std::min<size_t>(options_.stable_windows, windows.size());
  std::vector<BenchSample> kept;
  double kept_seconds = 0;
  for (size_t i = windows.size() - keep; i < windows.size(); ++i) {
    kept.insert(kept.end(), windows[i].begin(), windows[i].end());
    kept_seconds += seconds[i];
  }
  result.windows = static_cast<int>(windows.size());
  result.summary = BenchSummary::Of(kept, kept_seconds);
  return result;
}

}  // namespace gcnserve
