#include "server/base/bounded_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace gcnserve {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(EchoTextTest, ShortTextIsKept) {
  EXPECT_EQ(EchoText("model3"), "model3");
}

TEST(EchoTextTest, LongTextIsCutToAPrefixWithItsLength) {
  std::string echoed = EchoText(std::string(100'000, 'a'));
  EXPECT_THAT(echoed, StartsWith(std::string(kMaxEchoBytes, 'a') + "..."));
  EXPECT_THAT(echoed, EndsWith("(100000 bytes)"));
  EXPECT_LT(echoed.size(), 2 * kMaxEchoBytes);
}

TEST(EchoTextTest, ControlCharactersQuotesAndInvalidUtf8AreEscaped) {
  std::string echoed = EchoText(std::string("a\nb'\"\xff\xc3", 7));
  EXPECT_EQ(echoed, "a\\nb\\'\\\"\\xff\\xc3");
  for (char c : echoed) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << static_cast<int>(c);
  }
}

TEST(BoundStatusMessageTest, ShortMessageIsKept) {
  EXPECT_EQ(BoundStatusMessage("queue is full"), "queue is full");
  std::string exact(kMaxStatusMessageBytes, 'x');
  EXPECT_EQ(BoundStatusMessage(exact), exact);
}

TEST(BoundStatusMessageTest, LongMessageIsCutTo1KiB) {
  std::string bounded = BoundStatusMessage(std::string(10'000, 'x'));
  EXPECT_EQ(bounded.size(), kMaxStatusMessageBytes);
  EXPECT_THAT(bounded, EndsWith("..."));
}

TEST(BoundStatusMessageTest, CutsAtACharacterBoundary) {
  std::string text;
  while (text.size() < 2 * kMaxStatusMessageBytes) text += "\xc3\xa9";  // é
  std::string bounded = BoundStatusMessage(text);
  EXPECT_LE(bounded.size(), kMaxStatusMessageBytes);
  std::string body = bounded.substr(0, bounded.size() - 3);
  EXPECT_EQ(body.size() % 2, 0u);
  EXPECT_THAT(body, HasSubstr("\xc3\xa9"));
  EXPECT_EQ(static_cast<unsigned char>(body.back()), 0xa9);
}

}  // namespace
}  // namespace gcnserve
