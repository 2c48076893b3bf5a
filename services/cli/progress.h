// Live progress of a study on a terminal: `vmle watch` and `vmle tune` follow the
// study's event stream (WatchStudy) and print one line per event that matters —
// trials queued, started, finished, failed, stopped, new bests, reflections, planner
// fallbacks, the end — each followed by the study's standing: trials done and
// running, best so far and an ETA from the mean trial time.
#pragma once

#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "vmle/v1/study_service.grpc.pb.h"

namespace vmle::cli {

struct WatchOptions {
  // Also print per-epoch progress lines.
  bool verbose = false;
  // Replay events after this sequence number (0: from the start).
  int64_t after_sequence = 0;
  // Give up after this long without reaching the agent.
  absl::Duration reconnect_timeout = absl::Seconds(60);
};

// Follows the study until it ends, reconnecting (from the last event seen) while the
// agent is unreachable; returns the final study. NOT_FOUND for an unknown id.
absl::StatusOr<vmle::v1::Study> WatchStudy(vmle::v1::StudyService::StubInterface& studies,
                                           const std::string& study_id, const WatchOptions& options,
                                           std::ostream& out);

// "1h02m", "3m05s", "42s".
std::string ShortDuration(absl::Duration d);

}  // namespace vmle::cli
