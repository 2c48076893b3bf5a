// The life of a service process once its flags are parsed: logging, metrics
// endpoint, gRPC server, wait for SIGTERM/SIGINT, graceful shutdown.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/metrics/metrics.h"
#include "common/server/server.h"

namespace vmle {

// Builds a process's services once its metrics registry exists.
using ServiceFactory = std::function<absl::StatusOr<std::vector<std::unique_ptr<grpc::Service>>>(
    MetricsServer& metrics)>;

// Whether the process can do its work now (its dependencies answer); called about
// once a second from a thread of RunService, so it must return within a second or
// two.
using ReadinessProbe = std::function<bool()>;

// Runs until SIGTERM or SIGINT; returns the process exit code (0 after a clean
// shutdown, 1 when startup failed, with the reason logged). The caller must have
// called BlockTerminationSignals() before starting any thread. With `ready` set,
// health reports NOT_SERVING while it returns false (logged on each change).
int RunService(const ServerOptions& options, const std::string& log_level,
               const ServiceFactory& make_services, const ReadinessProbe& ready = nullptr);

}  // namespace vmle
