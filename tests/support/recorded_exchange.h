#ifndef GCNSERVE_TESTS_SUPPORT_RECORDED_EXCHANGE_H_
#define GCNSERVE_TESTS_SUPPORT_RECORDED_EXCHANGE_H_

// An HttpExchange without a server, for driving an HTTP handler in process
// (the fuzzer): it keeps the first answer, made on the answering thread,
// and lets the caller wait for it. Thread-safe.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>

#include "server/transport/http_server.h"

namespace gcnserve {

class RecordedExchange final : public HttpExchange {
 public:
  explicit RecordedExchange(HttpRequest request) : request_(std::move(request)) {}

  const HttpRequest& request() const override { return request_; }
  void Respond(HttpResponse response) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (answer_) return;
      answer_ = std::move(response);
    }
    cv_.notify_all();
  }
  void RespondWith(std::function<HttpResponse()> make) override {
    Respond(make());
  }
  void OnClientGone(std::function<void()>) override {}  // it never leaves

  // The answer, once given within `limit`.
  std::optional<HttpResponse> Wait(std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, limit, [&] { return answer_.has_value(); });
    return answer_;
  }

 private:
  const HttpRequest request_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<HttpResponse> answer_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_TESTS_SUPPORT_RECORDED_EXCHANGE_H_
