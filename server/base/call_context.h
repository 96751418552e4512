#ifndef GCNSERVE_SERVER_BASE_CALL_CONTEXT_H_
#define GCNSERVE_SERVER_BASE_CALL_CONTEXT_H_

#include <chrono>
#include <functional>

#include "server/base/clock.h"

namespace gcnserve {

// What the request path needs to know of the transport a request came on,
// so that gRPC and HTTP requests take the same ClassifierService::Submit.
struct CallContext {
  enum class Protocol { kGrpc, kHttp };

  Protocol protocol = Protocol::kGrpc;
  // When the caller stops waiting, on the injected clock; max() = never.
  Clock::TimePoint deadline = Clock::TimePoint::max();
  // True once the caller has gone; null = never. Called from batch threads
  // while the call is queued, so it must be thread-safe and cheap.
  std::function<bool()> is_cancelled;
};

// How close to its deadline a caller's cancel counts as the deadline. A gRPC
// client whose own deadline passes cancels the call, and its cancel reaches
// the server up to a network latency before the server's copy of the same
// deadline passes (that copy starts when the request arrives); counted as a
// cancel, a timeout under load would escape the server-side error ratio,
// which leaves cancels out.
inline constexpr std::chrono::milliseconds kDeadlineCancelSlack{100};

// Whether the caller of a call with `deadline` and `is_cancelled` (see
// CallContext) has gone at `now`, and why.
enum class CallerGone { kNo, kDeadline, kCancelled };
inline CallerGone CheckCaller(Clock::TimePoint deadline,
                              const std::function<bool()>& is_cancelled,
                              Clock::TimePoint now) {
  if (deadline <= now) return CallerGone::kDeadline;
  if (!is_cancelled || !is_cancelled()) return CallerGone::kNo;
  return deadline - now <= kDeadlineCancelSlack ? CallerGone::kDeadline
                                                : CallerGone::kCancelled;
}

// "grpc" or "http": the value of the metrics' protocol label.
inline const char* ProtocolName(CallContext::Protocol protocol) {
  return protocol == CallContext::Protocol::kHttp ? "http" : "grpc";
}

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_BASE_CALL_CONTEXT_H_
