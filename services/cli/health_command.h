// `vmle health`: asks each VirtualMLE service for its gRPC health status.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/auth/client_channel.h"

namespace vmle::cli {

struct HealthOptions {
  // Addresses HOST:PORT to check.
  std::vector<std::string> targets;
  // Per-target deadline.
  double timeout_seconds = 5;
  // TLS towards the targets (health needs no token).
  auth::ClientSecurity security;
};

// Prints one line per target ("localhost:50051 SERVING") to `out`. UNAVAILABLE when
// any target is unreachable or not SERVING.
absl::Status RunHealth(const HealthOptions& options, std::ostream& out);

}  // namespace vmle::cli
