// Test helper: a child process (a real service binary) with its output in a log
// file, stopped and reaped when the object goes away.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace vmle::testing {

class Subprocess {
 public:
  // Starts argv[0] with the remaining arguments; stdout and stderr go to log_path.
  static absl::StatusOr<Subprocess> Start(const std::vector<std::string>& argv,
                                          const std::string& log_path);
  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&&) = delete;
  ~Subprocess();  // SIGKILL and reap if still running.

  pid_t pid() const { return pid_; }
  void Signal(int signal) const;
  // Waits up to `timeout` for exit; the exit status as from waitpid, or nullopt.
  std::optional<int> Wait(std::chrono::milliseconds timeout);

 private:
  explicit Subprocess(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
};

// The ports a service wrote to its --ready_file.
struct ReadyInfo {
  int grpc_port = 0;
  int metrics_port = 0;
};

// Waits until `path` holds a complete ready file, or `timeout` passes.
absl::StatusOr<ReadyInfo> WaitForReadyFile(const std::string& path,
                                           std::chrono::milliseconds timeout);

// A service process that has written its ready file.
struct Service {
  Subprocess process;
  ReadyInfo ready;
};

// Starts `argv` (a service binary and its flags, --listen among them) with
// --ready_file=DIR/NAME.ready added and its output in DIR/NAME.log, and waits up to
// `timeout` for the ready file; an error carries the log. A stale ready file is removed
// first, so a restarted service is waited for afresh.
absl::StatusOr<Service> StartService(std::vector<std::string> argv, const std::string& dir,
                                     const std::string& name, std::chrono::milliseconds timeout);

// GET http://127.0.0.1:port/path with libcurl; the body.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);

// A fresh temporary directory under $TEST_TMPDIR or /tmp.
std::string MakeTempDir();

// The whole file, or "" when it cannot be read (for logs in failure messages).
std::string ReadTextFile(const std::string& path);

}  // namespace vmle::testing
