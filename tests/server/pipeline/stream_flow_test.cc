// The stream's flow control alone: every event, what it asks of the
// transport, and when the stream ends.
#include "server/pipeline/stream_flow.h"

#include <gtest/gtest.h>

namespace gcnserve {
namespace {

using Flow = StreamFlow<int>;

// Opens a flow and completes the transport's side of the first read.
Flow Opened(int max_in_flight) {
  Flow flow(max_in_flight);
  Flow::Step open = flow.Open(false);
  EXPECT_TRUE(open.read);
  EXPECT_FALSE(flow.Acted().end);
  return flow;
}

TEST(StreamFlowTest, ReadsSubmitsWritesAndEndsWhenTheClientCloses) {
  Flow flow = Opened(4);
  Flow::Step read = flow.ReadDone(true);
  EXPECT_TRUE(read.submit);
  EXPECT_TRUE(read.read);  // below the limit: reads the next at once
  EXPECT_FALSE(flow.Acted().end);
  Flow::Step answered = flow.ItemDone(7);
  ASSERT_TRUE(answered.write);
  EXPECT_EQ(*answered.write, 7);
  Flow::Step closed = flow.ReadDone(false);  // the client closed its side
  EXPECT_FALSE(closed.end);                  // one answer is still unwritten
  Flow::Step written = flow.WriteDone(true);
  ASSERT_TRUE(written.end);
  EXPECT_EQ(*written.end, Flow::End::kClosed);
  EXPECT_TRUE(flow.ended());
}

TEST(StreamFlowTest, WritesOneAtATimeInTheOrderAnswersCome) {
  Flow flow = Opened(4);
  for (int i = 0; i < 3; ++i) {
    flow.ReadDone(true);
    flow.Acted();
  }
  EXPECT_EQ(flow.in_flight(), 3);
  EXPECT_EQ(*flow.ItemDone(2).write, 2);
  EXPECT_FALSE(flow.ItemDone(0).write);  // a write is under way
  EXPECT_FALSE(flow.ItemDone(1).write);
  EXPECT_EQ(*flow.WriteDone(true).write, 0);
  EXPECT_EQ(*flow.WriteDone(true).write, 1);
  Flow::Step last = flow.WriteDone(true);
  EXPECT_FALSE(last.write);
  EXPECT_FALSE(last.end);  // the client has not closed its side
  EXPECT_EQ(flow.in_flight(), 0);
}

TEST(StreamFlowTest, PausesReadingAtTheLimitAndResumesWhenAnAnswerIsWritten) {
  Flow flow = Opened(2);
  EXPECT_TRUE(flow.ReadDone(true).read);
  flow.Acted();
  Flow::Step at_limit = flow.ReadDone(true);
  EXPECT_TRUE(at_limit.submit);
  EXPECT_FALSE(at_limit.read);  // two in flight: no further read
  flow.Acted();
  flow.ItemDone(1);
  Flow::Step written = flow.WriteDone(true);
  EXPECT_TRUE(written.read);  // one left: reading resumes
  EXPECT_FALSE(flow.Acted().end);
}

TEST(StreamFlowTest, DoesNotEndWhileTheTransportIsStillActing) {
  Flow flow = Opened(4);
  flow.ReadDone(true);  // submit: the transport has not Acted() yet
  // The item is answered and written before the transport's reaction ends,
  // and the client has closed its side meanwhile.
  flow.ItemDone(1);
  EXPECT_FALSE(flow.WriteDone(true).end);
  EXPECT_FALSE(flow.ReadDone(false).end);
  Flow::Step acted = flow.Acted();
  ASSERT_TRUE(acted.end);
  EXPECT_EQ(*acted.end, Flow::End::kClosed);
}

TEST(StreamFlowTest, AFailedWriteGivesUpTheItemsInFlightAndEnds) {
  Flow flow = Opened(4);
  for (int i = 0; i < 3; ++i) {
    flow.ReadDone(true);
    flow.Acted();
  }
  flow.ItemDone(0);
  flow.ItemDone(1);  // queued behind 0
  Flow::Step failed = flow.WriteDone(false);
  EXPECT_TRUE(failed.cancel_in_flight);
  EXPECT_FALSE(failed.write);  // 1 is never written
  EXPECT_FALSE(failed.end);    // a read is outstanding, item 2 in flight
  EXPECT_FALSE(flow.ItemDone(2).write);  // given up, not written
  Flow::Step read = flow.ReadDone(true);  // what the client sent meanwhile
  EXPECT_FALSE(read.submit);
  ASSERT_TRUE(read.end);
  EXPECT_EQ(*read.end, Flow::End::kClosed);
}

TEST(StreamFlowTest, DrainingEndsOnceTheItemsInFlightAreAnswered) {
  Flow flow = Opened(4);
  flow.ReadDone(true);
  flow.Acted();  // a read is outstanding, one item in flight
  EXPECT_FALSE(flow.Drain().end);
  flow.ItemDone(1);
  Flow::Step written = flow.WriteDone(true);
  EXPECT_FALSE(written.read);
  ASSERT_TRUE(written.end);  // the outstanding read is ended with the call
  EXPECT_EQ(*written.end, Flow::End::kDraining);
  // An item read after the end is dropped.
  EXPECT_FALSE(flow.ReadDone(true).submit);
}

TEST(StreamFlowTest, DrainingWithNothingInFlightEndsAtOnce) {
  Flow flow = Opened(4);
  Flow::Step drained = flow.Drain();
  ASSERT_TRUE(drained.end);
  EXPECT_EQ(*drained.end, Flow::End::kDraining);
  EXPECT_FALSE(flow.Drain().end);  // once
}

TEST(StreamFlowTest, ItemsReadWhileDrainingAreAnsweredButNoMoreAreRead) {
  Flow other(4);
  other.Open(false);
  // The server drains, and the first read completes, before the transport
  // has acted on Open.
  other.Drain();
  Flow::Step read = other.ReadDone(true);
  EXPECT_TRUE(read.submit);
  EXPECT_FALSE(read.read);  // draining: no further read
  EXPECT_FALSE(other.Acted().end);
  EXPECT_FALSE(other.Acted().end);
  other.ItemDone(1);
  ASSERT_TRUE(other.WriteDone(true).end);
}

TEST(StreamFlowTest, OpenWhileDrainingEndsAtOnceAndADrainBeforeOpenLeavesItEnded) {
  Flow refused(4);
  Flow::Step open = refused.Open(true);
  EXPECT_FALSE(open.read);
  ASSERT_TRUE(open.end);
  EXPECT_EQ(*open.end, Flow::End::kDraining);

  Flow raced(4);
  ASSERT_TRUE(raced.Drain().end);  // drained between registering and Open
  Flow::Step late = raced.Open(false);
  EXPECT_FALSE(late.read);
  EXPECT_FALSE(late.end);
}

}  // namespace
}  // namespace gcnserve
