// libstubborn_socket_counters.so: an LD_PRELOAD library for the soak benchmark. It counts the
// bytes a process hands to its sockets and takes from them, at the libc call, so the soak can
// compare the server's own count of what it read and wrote with the client's count of what it
// got. /proc/PID/io cannot: its wchar/rchar count read(2)/write(2), not send/recv/sendmsg/recvmsg,
// which are what Asio uses on sockets (measured: wchar does not move while stubborn serves).
//
// Counters live in a shared file mapping named by STUBBORN_SOCKET_COUNTERS, so the runner reads
// them while the process runs and after it has exited. Layout: eight little-endian uint64:
//   magic, pid, bytes_sent, send_calls, bytes_received, receive_calls, eof_reads, reserved
// Counted: send, sendto, sendmsg, sendmmsg, recv, recvfrom, recvmsg, recvmmsg, and
// read/readv/write/writev on sockets. A recvmmsg message that asked for 0 bytes (stubborn's
// probe for a pending FIN, src/connection_socket.hpp) counts neither bytes nor an end of stream.
// Not counted: sendfile, splice (stubborn uses neither on this path).
//
// Built by benchmarks/run.py (soak) into build-bench/libstubborn_socket_counters.so with
//   c++ -O2 -std=c++20 -shared -fPIC -o LIB benchmarks/socket_counters.cpp -ldl

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>

namespace {

constexpr std::uint64_t magic = 0x73747562636e7431;  // "stubcnt1"

struct counters {
  std::atomic<std::uint64_t> magic;
  std::atomic<std::uint64_t> pid;
  std::atomic<std::uint64_t> bytes_sent;
  std::atomic<std::uint64_t> send_calls;
  std::atomic<std::uint64_t> bytes_received;
  std::atomic<std::uint64_t> receive_calls;
  std::atomic<std::uint64_t> eof_reads;
  std::atomic<std::uint64_t> reserved;
};
static_assert(sizeof(counters) == 64);

counters local_counters;  // used when no file is named: counting still works, nobody reads it
counters* shared = &local_counters;

using send_fn = ssize_t (*)(int, const void*, size_t, int);
using sendto_fn = ssize_t (*)(int, const void*, size_t, int, const sockaddr*, socklen_t);
using sendmsg_fn = ssize_t (*)(int, const msghdr*, int);
using recv_fn = ssize_t (*)(int, void*, size_t, int);
using recvfrom_fn = ssize_t (*)(int, void*, size_t, int, sockaddr*, socklen_t*);
using recvmsg_fn = ssize_t (*)(int, msghdr*, int);
using sendmmsg_fn = int (*)(int, mmsghdr*, unsigned, int);
using recvmmsg_fn = int (*)(int, mmsghdr*, unsigned, int, timespec*);
using write_fn = ssize_t (*)(int, const void*, size_t);
using writev_fn = ssize_t (*)(int, const iovec*, int);
using read_fn = ssize_t (*)(int, void*, size_t);
using readv_fn = ssize_t (*)(int, const iovec*, int);

template <class F>
F next(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

// Resolved on first use, so a call made before our constructor runs still works.
template <class F>
F real(std::atomic<F>& slot, const char* name) {
  F f = slot.load(std::memory_order_relaxed);
  if (!f) {
    f = next<F>(name);
    slot.store(f, std::memory_order_relaxed);
  }
  return f;
}

std::atomic<send_fn> real_send;
std::atomic<sendto_fn> real_sendto;
std::atomic<sendmsg_fn> real_sendmsg;
std::atomic<recv_fn> real_recv;
std::atomic<recvfrom_fn> real_recvfrom;
std::atomic<recvmsg_fn> real_recvmsg;
std::atomic<sendmmsg_fn> real_sendmmsg;
std::atomic<recvmmsg_fn> real_recvmmsg;
std::atomic<write_fn> real_write;
std::atomic<writev_fn> real_writev;
std::atomic<read_fn> real_read;
std::atomic<readv_fn> real_readv;

ssize_t sent(ssize_t n) {
  if (n > 0) {
    shared->bytes_sent.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
    shared->send_calls.fetch_add(1, std::memory_order_relaxed);
  }
  return n;
}

ssize_t received(ssize_t n) {
  if (n > 0) {
    shared->bytes_received.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
    shared->receive_calls.fetch_add(1, std::memory_order_relaxed);
  } else if (n == 0) {
    shared->eof_reads.fetch_add(1, std::memory_order_relaxed);
  }
  return n;
}

bool is_socket(int fd) {
  int saved = errno;  // a successful call's caller may still look at errno
  struct stat st {};
  bool socket = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
  errno = saved;
  return socket;
}

__attribute__((constructor)) void map_counters() {
  const char* path = std::getenv("STUBBORN_SOCKET_COUNTERS");
  if (!path || !*path) return;
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  void* p = MAP_FAILED;
  if (ftruncate(fd, sizeof(counters)) == 0) {
    p = mmap(nullptr, sizeof(counters), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  close(fd);  // the mapping stays; the process's descriptor count is as without us
  if (p == MAP_FAILED) return;
  auto* c = static_cast<counters*>(p);
  c->pid.store(static_cast<std::uint64_t>(getpid()));
  c->magic.store(magic);
  shared = c;
}

}  // namespace

extern "C" {

ssize_t send(int fd, const void* buf, size_t len, int flags) {
  return sent(real(real_send, "send")(fd, buf, len, flags));
}

ssize_t sendto(int fd, const void* buf, size_t len, int flags, const sockaddr* to,
               socklen_t tolen) {
  return sent(real(real_sendto, "sendto")(fd, buf, len, flags, to, tolen));
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  return sent(real(real_sendmsg, "sendmsg")(fd, msg, flags));
}

ssize_t recv(int fd, void* buf, size_t len, int flags) {
  return received(real(real_recv, "recv")(fd, buf, len, flags));
}

ssize_t recvfrom(int fd, void* buf, size_t len, int flags, sockaddr* from, socklen_t* fromlen) {
  return received(real(real_recvfrom, "recvfrom")(fd, buf, len, flags, from, fromlen));
}

ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  return received(real(real_recvmsg, "recvmsg")(fd, msg, flags));
}

int sendmmsg(int fd, mmsghdr* messages, unsigned count, int flags) {
  int got = real(real_sendmmsg, "sendmmsg")(fd, messages, count, flags);
  for (int i = 0; i < got; ++i) sent(static_cast<ssize_t>(messages[i].msg_len));
  return got;
}

int recvmmsg(int fd, mmsghdr* messages, unsigned count, int flags, timespec* timeout) {
  int got = real(real_recvmmsg, "recvmmsg")(fd, messages, count, flags, timeout);
  for (int i = 0; i < got; ++i) {
    std::size_t asked = 0;
    for (std::size_t v = 0; v < messages[i].msg_hdr.msg_iovlen; ++v) {
      asked += messages[i].msg_hdr.msg_iov[v].iov_len;
    }
    if (asked > 0) received(static_cast<ssize_t>(messages[i].msg_len));
  }
  return got;
}

ssize_t write(int fd, const void* buf, size_t len) {
  ssize_t n = real(real_write, "write")(fd, buf, len);
  return n > 0 && is_socket(fd) ? sent(n) : n;
}

ssize_t writev(int fd, const iovec* iov, int count) {
  ssize_t n = real(real_writev, "writev")(fd, iov, count);
  return n > 0 && is_socket(fd) ? sent(n) : n;
}

ssize_t read(int fd, void* buf, size_t len) {
  ssize_t n = real(real_read, "read")(fd, buf, len);
  return n >= 0 && is_socket(fd) ? received(n) : n;
}

ssize_t readv(int fd, const iovec* iov, int count) {
  ssize_t n = real(real_readv, "readv")(fd, iov, count);
  return n >= 0 && is_socket(fd) ? received(n) : n;
}

}  // extern "C"
