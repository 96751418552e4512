#include "server/decode/decode_budget.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace gcnserve {

DecodeBudget::Reservation& DecodeBudget::Reservation::operator=(
    Reservation&& other) noexcept {
  if (this != &other) {
    Release();
    budget_ = std::exchange(other.budget_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void DecodeBudget::Reservation::Release() {
  if (budget_ != nullptr) budget_->Give(bytes_);
  budget_ = nullptr;
  bytes_ = 0;
}

absl::StatusOr<DecodeBudget::Reservation> DecodeBudget::Reserve(int64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (bytes > limit_ - in_flight_) {
    return absl::UnavailableError(absl::StrCat(
        "decoding is at its limit: accepted images hold ", in_flight_,
        " of the ", limit_, " bytes allowed at once "
        "(--max-decode-bytes-in-flight) and this one needs ", bytes,
        "; retry later"));
  }
  in_flight_ += bytes;
  return Reservation(this, bytes);
}

int64_t DecodeBudget::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

void DecodeBudget::Give(int64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  in_flight_ -= bytes;
}

}  // namespace gcnserve
