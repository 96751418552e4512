#include "server/transport/connection_watch.h"

#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <memory>
#include <thread>

namespace gcnserve {
namespace {

// A connected pair of stream sockets: `ours` is watched, `peer` plays the
// client.
class ConnectionWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    ours_ = fds[0];
    peer_ = fds[1];
  }
  void TearDown() override {
    if (ours_ >= 0) close(ours_);
    if (peer_ >= 0) close(peer_);
  }
  void ClosePeer() {
    close(peer_);
    peer_ = -1;
  }

  int ours_ = -1;
  int peer_ = -1;
};

TEST_F(ConnectionWatchTest, PendingBytesAreNotAClose) {
  ConnectionWatch watch(ours_);
  EXPECT_FALSE(watch.PeerClosed());
  // A pipelined next request waits unread.
  ASSERT_EQ(write(peer_, "GET / HTTP/1.1\r\n\r\n", 18), 18);
  EXPECT_FALSE(watch.PeerClosed());
  ClosePeer();
  EXPECT_TRUE(watch.PeerClosed());
}

TEST_F(ConnectionWatchTest, HalfCloseCountsAsGone) {
  ConnectionWatch watch(ours_);
  ASSERT_EQ(shutdown(peer_, SHUT_WR), 0);
  EXPECT_TRUE(watch.PeerClosed());
}

TEST_F(ConnectionWatchTest, WaitReturnsOnNotifyWithoutCallingOnGone) {
  auto watch = std::make_shared<ConnectionWatch>(ours_);
  ASSERT_EQ(write(peer_, "x", 1), 1);  // data does not wake the wait
  std::thread answer([watch] { watch->Notify(); });
  int gone = 0;
  watch->Wait([&] { ++gone; });
  answer.join();
  EXPECT_EQ(gone, 0);
}

TEST_F(ConnectionWatchTest, ClientThatLeavesCallsOnGoneOnceThenWaitsForNotify) {
  auto watch = std::make_shared<ConnectionWatch>(ours_);
  ClosePeer();
  int gone = 0;
  std::thread answer;
  // As HttpApi does: on_gone cancels the call, whose end then notifies.
  watch->Wait([&] {
    ++gone;
    answer = std::thread([watch] { watch->Notify(); });
  });
  answer.join();
  EXPECT_EQ(gone, 1);
}

TEST(ConnectionWatchNoSocketTest, NeverGoneAndWaitsForNotify) {
  auto watch = std::make_shared<ConnectionWatch>(-1);
  EXPECT_FALSE(watch->PeerClosed());
  std::thread answer([watch] { watch->Notify(); });
  int gone = 0;
  watch->Wait([&] { ++gone; });
  answer.join();
  EXPECT_EQ(gone, 0);
}

}  // namespace
}  // namespace gcnserve
