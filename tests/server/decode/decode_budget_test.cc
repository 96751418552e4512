#include "server/decode/decode_budget.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <utility>

namespace gcnserve {
namespace {

using ::testing::HasSubstr;

TEST(DecodeBudgetTest, RefusesWhatDoesNotFitAndTakesItOnceBytesComeBack) {
  DecodeBudget budget(100);
  absl::StatusOr<DecodeBudget::Reservation> first = budget.Reserve(60);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(budget.in_flight(), 60);

  absl::StatusOr<DecodeBudget::Reservation> second = budget.Reserve(41);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("hold 60 of the 100 bytes"));
  EXPECT_EQ(budget.in_flight(), 60);

  absl::StatusOr<DecodeBudget::Reservation> fits = budget.Reserve(40);
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(budget.in_flight(), 100);

  first->Release();
  first->Release();  // idempotent
  EXPECT_EQ(budget.in_flight(), 40);
  EXPECT_TRUE(budget.Reserve(60).ok());  // a temporary: given back at once
  EXPECT_EQ(budget.in_flight(), 40);
}

TEST(DecodeBudgetTest, AMovedReservationIsGivenBackOnce) {
  DecodeBudget budget(10);
  {
    DecodeBudget::Reservation held;
    {
      absl::StatusOr<DecodeBudget::Reservation> made = budget.Reserve(7);
      ASSERT_TRUE(made.ok());
      held = *std::move(made);
    }
    EXPECT_EQ(held.bytes(), 7);
    EXPECT_EQ(budget.in_flight(), 7);
    DecodeBudget::Reservation moved(std::move(held));
    EXPECT_EQ(budget.in_flight(), 7);
  }
  EXPECT_EQ(budget.in_flight(), 0);
}

}  // namespace
}  // namespace gcnserve
