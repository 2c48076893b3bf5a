// Linked into vmle-worker only: a floor under thread stack sizes.
//
// Debian's civetweb, which serves prometheus-cpp's /metrics endpoint, starts its
// threads with a 100 KiB stack (built with USE_STACK_SIZE=102400). glibc refuses to
// create a thread whose stack cannot hold the static TLS of every loaded library
// (pthread_create returns EINVAL), and libtorch's dependencies need more than that
// (OpenBLAS 60 KiB, glog 30 KiB, libtorch 10 KiB), so the endpoint could not start
// in a process that trains. The executable's definition interposes on libc's and
// raises requests below kMinStackBytes; larger requests pass through unchanged.
#include <dlfcn.h>
#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>

namespace {

constexpr size_t kMinStackBytes = size_t{1} << 20;

using SetStackSize = int (*)(pthread_attr_t*, size_t);

SetStackSize RealSetStackSize() {
  static const auto real = reinterpret_cast<SetStackSize>(dlsym(RTLD_NEXT, "pthread_attr_setstacksize"));
  return real;
}

}  // namespace

extern "C" int pthread_attr_setstacksize(pthread_attr_t* attr, size_t size) {
  const SetStackSize real = RealSetStackSize();
  if (real == nullptr) return ENOSYS;
  return real(attr, std::max(size, kMinStackBytes));
}
