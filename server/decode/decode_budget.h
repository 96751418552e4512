#ifndef GCNSERVE_SERVER_DECODE_DECODE_BUDGET_H_
#define GCNSERVE_SERVER_DECODE_DECODE_BUDGET_H_

#include <cstdint>
#include <mutex>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"

namespace gcnserve {

// The decode memory that accepted requests may claim at once, across the
// preprocess pool (--max-decode-bytes-in-flight). A request reserves its
// image's decoded bytes (DecodePlan::decoded_bytes, from the header) when it
// is accepted and gives them back once the image is decoded or the request
// ends; a request that does not fit is refused at once instead of queued
// behind work that would take the server's memory. Thread-safe.
class DecodeBudget {
 public:
  // Bytes held by one request; given back when released or destroyed.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&& other) noexcept { *this = std::move(other); }
    Reservation& operator=(Reservation&& other) noexcept;
    ~Reservation() { Release(); }

    // Gives the bytes back now; idempotent.
    void Release();
    int64_t bytes() const { return bytes_; }

   private:
    friend class DecodeBudget;
    Reservation(DecodeBudget* budget, int64_t bytes)
        : budget_(budget), bytes_(bytes) {}
    DecodeBudget* budget_ = nullptr;
    int64_t bytes_ = 0;
  };

  // `limit_bytes` > 0: the most bytes reserved at once.
  explicit DecodeBudget(int64_t limit_bytes) : limit_(limit_bytes) {}
  // Every reservation is released before the budget is destroyed.

  // UNAVAILABLE (an overloaded replica, which clients retry elsewhere, as
  // for a full queue), saying how much is in flight, when `bytes` more
  // would pass the limit. A request never needs more than the per-image
  // limit, which ServerOptions keeps at most this one.
  absl::StatusOr<Reservation> Reserve(int64_t bytes);

  int64_t limit() const { return limit_; }
  int64_t in_flight() const;

 private:
  void Give(int64_t bytes);

  const int64_t limit_;
  mutable std::mutex mu_;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_DECODE_DECODE_BUDGET_H_
