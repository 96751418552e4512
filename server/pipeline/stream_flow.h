#ifndef GCNSERVE_SERVER_PIPELINE_STREAM_FLOW_H_
#define GCNSERVE_SERVER_PIPELINE_STREAM_FLOW_H_

#include <deque>
#include <optional>

namespace gcnserve {

// The flow control of one stream of requests answered as they complete
// (gRPC's ClassifyStream), apart from any transport so that it can be tested
// alone: the transport reports each event and does what the returned Step
// says. Reads one item at a time, and reads the next while fewer than
// `max_in_flight` items are unanswered; writes answers one at a time, in the
// order they complete. The stream ends once the client has closed its side
// and every item is answered; when a write fails (the client is gone),
// nothing more is written, the items still in flight are given up, and it
// ends once no reaction is under way; when the server drains, it ends
// (kDraining) once the items in flight are answered, whatever the client
// still sends.
//
// `Item` is what the transport writes (a pointer to an answer, say). Not
// thread-safe: the transport calls it under its own lock and acts on the
// Step outside it.
template <typename Item>
class StreamFlow {
 public:
  enum class End { kClosed, kDraining };

  // What the transport does after an event, in this order: submit the item
  // just read, start the next read, start writing `write`, cancel the items
  // in flight (a write failed), then end the stream with `end`. When
  // `submit` or `read` is set, the transport calls Acted() once it has done
  // them: the stream cannot end in between, so nothing the transport still
  // does then outlives the stream.
  struct Step {
    bool submit = false;
    bool read = false;
    std::optional<Item> write;
    bool cancel_in_flight = false;
    std::optional<End> end;
  };

  explicit StreamFlow(int max_in_flight) : max_in_flight_(max_in_flight) {}

  // The stream opens; `draining`: the server drains already. A Drain() may
  // come first (the stream then has ended, and Open does nothing).
  Step Open(bool draining) {
    Step step;
    if (ended_) return step;
    if (draining) {
      draining_ = true;
      ended_ = true;
      step.end = End::kDraining;
      return step;
    }
    read_pending_ = true;
    step.read = true;
    ++busy_;
    return step;
  }

  // A read completed: `ok` false when the client closed its side (or the
  // call ended). When Step::submit is set the item read is the transport's
  // to submit; otherwise it is dropped.
  Step ReadDone(bool ok) {
    Step step;
    read_pending_ = false;
    if (!ok) {
      reads_done_ = true;
      step.end = ShouldEnd();
      return step;
    }
    if (ended_) return step;  // drained while this item was read: dropped
    if (broken_) {            // no answer can reach the client
      step.end = ShouldEnd();
      return step;
    }
    step.submit = true;
    ++in_flight_;
    ++busy_;
    if (in_flight_ < max_in_flight_ && !draining_) {
      read_pending_ = true;
      step.read = true;
    } else {
      read_paused_ = true;
    }
    return step;
  }

  // The transport has submitted the item and started the read that a Step
  // asked for.
  Step Acted() {
    Step step;
    --busy_;
    step.end = ShouldEnd();
    return step;
  }

  // A submitted item is answered; `item` is its answer, to write.
  Step ItemDone(Item item) {
    Step step;
    if (broken_) {
      --in_flight_;
      step.end = ShouldEnd();
      return step;
    }
    to_write_.push_back(item);
    if (!writing_) {
      writing_ = true;
      step.write = item;
    }
    return step;
  }

  // The write of the oldest answer completed; `ok` false when it failed.
  Step WriteDone(bool ok) {
    Step step;
    to_write_.pop_front();
    --in_flight_;
    if (!ok && !broken_) {
      broken_ = true;
      in_flight_ -= static_cast<int>(to_write_.size());
      to_write_.clear();
      step.cancel_in_flight = true;
    }
    if (!to_write_.empty()) {
      step.write = to_write_.front();
    } else {
      writing_ = false;
    }
    if (read_paused_ && !reads_done_ && !broken_ && !draining_) {
      read_paused_ = false;
      read_pending_ = true;
      step.read = true;
      ++busy_;
    }
    step.end = ShouldEnd();
    return step;
  }

  // The server drains.
  Step Drain() {
    Step step;
    draining_ = true;
    step.end = ShouldEnd();
    return step;
  }

  // Items submitted and not yet written or given up.
  int in_flight() const { return in_flight_; }
  bool ended() const { return ended_; }

 private:
  // The end, once: when nothing is read (the client closed its side, or a
  // write failed with no read outstanding) or the server drains (a read may
  // be outstanding: ending the call ends it), and every item is answered,
  // and no reaction is about to start a read.
  std::optional<End> ShouldEnd() {
    if (ended_ || in_flight_ > 0 || busy_ > 0) return std::nullopt;
    bool closed = !read_pending_ && (reads_done_ || broken_);
    if (!closed && !draining_) return std::nullopt;
    ended_ = true;
    return closed ? End::kClosed : End::kDraining;
  }

  const int max_in_flight_;
  int in_flight_ = 0;
  std::deque<Item> to_write_;  // front is being written
  bool writing_ = false;
  bool read_paused_ = false;   // in_flight_ hit the limit; no read issued
  bool read_pending_ = false;  // a read awaits its ReadDone
  bool reads_done_ = false;
  bool broken_ = false;        // a write failed
  int busy_ = 0;               // Steps with submit or read not yet Acted()
  bool draining_ = false;
  bool ended_ = false;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_PIPELINE_STREAM_FLOW_H_
