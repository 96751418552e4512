#ifndef GCNSERVE_SERVER_TRANSPORT_CONNECTION_WATCH_H_
#define GCNSERVE_SERVER_TRANSPORT_CONNECTION_WATCH_H_

#include <condition_variable>
#include <functional>
#include <mutex>

namespace gcnserve {

// Lets the thread that holds a client's connection wait for the answer to
// the client's request and notice meanwhile that the client has gone.
//
// "Gone" is the TCP connection's state, read with poll(): the peer closed
// (FIN, seen as POLLRDHUP, so a client that half-closes after sending its
// request counts as gone too) or reset it (POLLHUP, POLLERR). Bytes that
// wait to be read do not count: a pipelined next request is data, and so
// is a TLS close_notify alert, which is followed by the FIN that counts.
// Nothing is read from the socket, so the transport's own reading is left
// as it was.
//
// Shared by the waiting thread and the one that calls Notify (hold it in a
// shared_ptr): Notify may still run when Wait has returned.
class ConnectionWatch {
 public:
  // `socket` stays owned by the caller; -1 watches nothing (never gone).
  explicit ConnectionWatch(int socket);
  ~ConnectionWatch();

  ConnectionWatch(const ConnectionWatch&) = delete;
  ConnectionWatch& operator=(const ConnectionWatch&) = delete;

  // True when the peer has closed or reset the connection now. Does not
  // block.
  bool PeerClosed() const;

  // The answer is ready: Wait returns. Thread-safe; more calls do nothing.
  void Notify();

  // Blocks until Notify. If the peer closes the connection first, calls
  // `on_gone` once on this thread and keeps waiting for Notify (the request
  // still ends, e.g. CANCELLED, and frees what it holds). Without a socket,
  // or when the socket cannot be polled, only waits.
  void Wait(const std::function<void()>& on_gone);

 private:
  const int socket_;
  int event_fd_ = -1;  // readable once notified; -1 when none could be made
  std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
};

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_TRANSPORT_CONNECTION_WATCH_H_
