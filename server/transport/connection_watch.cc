#include "server/transport/connection_watch.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace gcnserve {
namespace {

constexpr short kClosed = POLLRDHUP | POLLHUP | POLLERR;

}  // namespace

ConnectionWatch::ConnectionWatch(int socket) : socket_(socket) {
  if (socket_ >= 0) event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

ConnectionWatch::~ConnectionWatch() {
  if (event_fd_ >= 0) close(event_fd_);
}

bool ConnectionWatch::PeerClosed() const {
  if (socket_ < 0) return false;
  pollfd fd = {socket_, POLLRDHUP, 0};
  return poll(&fd, 1, 0) == 1 && (fd.revents & kClosed) != 0;
}

void ConnectionWatch::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (notified_) return;
    notified_ = true;
  }
  cv_.notify_all();
  if (event_fd_ >= 0) {
    const uint64_t one = 1;
    // Cannot fail short of a full counter, and one write is all it takes.
    [[maybe_unused]] ssize_t written = write(event_fd_, &one, sizeof(one));
  }
}

void ConnectionWatch::Wait(const std::function<void()>& on_gone) {
  while (event_fd_ >= 0) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (notified_) return;
    }
    pollfd fds[2] = {{socket_, POLLRDHUP, 0}, {event_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;  // cannot watch: only wait
    }
    if (fds[1].revents != 0) continue;  // notified (checked above)
    if (fds[0].revents & POLLNVAL) break;
    if (fds[0].revents & kClosed) {
      on_gone();
      break;
    }
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return notified_; });
}

}  // namespace gcnserve
