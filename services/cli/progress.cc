#include "services/cli/progress.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_format.h"
#include "common/status/grpc_status.h"
#include "services/cli/study_commands.h"
#include "grpcpp/client_context.h"

namespace vmle::cli {
namespace {

using vmle::v1::StudyEvent;

bool Worth(const StudyEvent& e, bool verbose) {
  switch (e.type()) {
    case StudyEvent::TYPE_TRIAL_PROGRESS: return verbose;
    case StudyEvent::TYPE_TRIAL_QUEUED:
    case StudyEvent::TYPE_TRIAL_STARTED:
    case StudyEvent::TYPE_NEW_BEST: return verbose;  // the finishing line says "(new best)"
    default: return true;
  }
}

bool Finishing(const StudyEvent& e) {
  return e.type() == StudyEvent::TYPE_TRIAL_FINISHED || e.type() == StudyEvent::TYPE_TRIAL_FAILED ||
         e.type() == StudyEvent::TYPE_TRIAL_STOPPED;
}

// The standing of the study, after a trial ended.
std::string Standing(const vmle::v1::Study& s, absl::Time first_start) {
  const int done = s.trials_succeeded() + s.trials_failed() + s.trials_stopped();
  const int max_trials = s.spec().budget().max_trials();
  std::string line = absl::StrFormat("%d/%d done, %d running", done, max_trials, s.trials_running());
  if (s.has_best()) absl::StrAppendFormat(&line, ", best %.4f", s.best_value());
  if (done > 0 && first_start != absl::InfinitePast() && done < max_trials) {
    const absl::Duration per_trial = (absl::Now() - first_start) / done;
    absl::StrAppend(&line, ", ETA ", ShortDuration(per_trial * (max_trials - done)));
  }
  return line;
}

}  // namespace

std::string ShortDuration(absl::Duration d) {
  const int64_t s = std::max<int64_t>(0, absl::ToInt64Seconds(d));
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

absl::StatusOr<vmle::v1::Study> WatchStudy(vmle::v1::StudyService::StubInterface& studies,
                                           const std::string& study_id, const WatchOptions& options,
                                           std::ostream& out) {
  const absl::Time watch_start = absl::Now();
  absl::Time first_start = absl::InfinitePast();
  absl::Time unreachable_since = absl::InfinitePast();
  int64_t last = options.after_sequence;
  for (;;) {
    grpc::ClientContext context;
    vmle::v1::WatchStudyRequest request;
    request.set_study_id(study_id);
    request.set_after_sequence(last);
    auto reader = studies.WatchStudy(&context, request);
    StudyEvent e;
    while (reader->Read(&e)) {
      unreachable_since = absl::InfinitePast();
      last = e.sequence();
      if (e.type() == StudyEvent::TYPE_TRIAL_STARTED && first_start == absl::InfinitePast()) {
        first_start = absl::Now();
      }
      if (!Worth(e, options.verbose)) continue;
      out << "[" << ShortDuration(absl::Now() - watch_start) << "] " << e.message();
      if (Finishing(e)) {
        absl::StatusOr<vmle::v1::Study> study = FetchStudy(studies, study_id, absl::Seconds(10));
        if (study.ok()) out << "   [" << Standing(*study, first_start) << "]";
      }
      out << std::endl;
    }
    const absl::Status status = FromGrpcStatus(reader->Finish());
    if (status.ok()) return FetchStudy(studies, study_id, absl::Seconds(10));
    if (!absl::IsUnavailable(status) && !absl::IsDeadlineExceeded(status)) return status;
    if (unreachable_since == absl::InfinitePast()) {
      unreachable_since = absl::Now();
      out << "(agent unreachable: " << status.message() << "; retrying)" << std::endl;
    }
    if (absl::Now() - unreachable_since > options.reconnect_timeout) {
      return absl::UnavailableError("lost the agent while watching " + study_id + ": " +
                                    std::string(status.message()));
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace vmle::cli
