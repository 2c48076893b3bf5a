// Values of FailTrialRequest.failure_cause: the worker classifies every failed trial
// into one of them and the agent refuses any other (trial_queue.proto).
//
//   invalid_config  the configuration is outside the search space or inconsistent
//   bad_data        the dataset cannot be resolved, read or trained on
//   nan             training diverged (non-finite loss)
//   out_of_memory   memory ran out loading or training
//   device          the worker's device is missing
//   internal        anything else, including exceptions caught at the boundary
//
// The agent adds "lease_expired" itself for a worker that stops sending heartbeats;
// a worker never reports it.
#pragma once

#include <array>

#include "absl/strings/string_view.h"

namespace vmle {

inline constexpr char kCauseInvalidConfig[] = "invalid_config";
inline constexpr char kCauseBadData[] = "bad_data";
inline constexpr char kCauseNan[] = "nan";
inline constexpr char kCauseOutOfMemory[] = "out_of_memory";
inline constexpr char kCauseDevice[] = "device";
inline constexpr char kCauseInternal[] = "internal";
inline constexpr char kCauseLeaseExpired[] = "lease_expired";

inline constexpr std::array<absl::string_view, 6> kWorkerFailureCauses = {
    kCauseInvalidConfig, kCauseBadData, kCauseNan, kCauseOutOfMemory, kCauseDevice, kCauseInternal};

inline bool IsWorkerFailureCause(absl::string_view cause) {
  for (absl::string_view known : kWorkerFailureCauses) {
    if (cause == known) return true;
  }
  return false;
}

}  // namespace vmle
