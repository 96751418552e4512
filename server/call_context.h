#ifndef GCNSERVE_SERVER_CALL_CONTEXT_H_
#define GCNSERVE_SERVER_CALL_CONTEXT_H_

#include <functional>

#include "server/clock.h"

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

// "grpc" or "http": the value of the metrics' protocol label.
inline const char* ProtocolName(CallContext::Protocol protocol) {
  return protocol == CallContext::Protocol::kHttp ? "http" : "grpc";
}

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_CALL_CONTEXT_H_
