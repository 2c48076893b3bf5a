// The `vmle` subcommands that talk to a running agent (StudyService) or memory
// service (cognition export/import). Each returns the error to print; output goes to
// `out`. Calls have a deadline of `timeout`.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "vmle/v1/memory_service.grpc.pb.h"
#include "vmle/v1/study_service.grpc.pb.h"

namespace vmle::cli {

using StudyStub = vmle::v1::StudyService::StubInterface;

absl::StatusOr<vmle::v1::Study> Submit(StudyStub& studies, const vmle::v1::StudySpec& spec,
                                       const std::string& request_id, absl::Duration timeout);
// One line per study: id, state, dataset, planner, trials, best.
absl::Status ListStudies(StudyStub& studies, const std::vector<std::string>& states, absl::Duration timeout,
                         std::ostream& out);
absl::StatusOr<vmle::v1::Study> FetchStudy(StudyStub& studies, const std::string& id, absl::Duration timeout);
// The study as JSON.
absl::Status GetStudy(StudyStub& studies, const std::string& id, absl::Duration timeout, std::ostream& out);
absl::Status CancelStudy(StudyStub& studies, const std::string& id, const std::string& reason,
                         absl::Duration timeout, std::ostream& out);
absl::Status ResumeStudy(StudyStub& studies, const std::string& id, int trials, absl::Duration timeout,
                         std::ostream& out);
absl::StatusOr<vmle::v1::StudyReport> GetReport(StudyStub& studies, const std::string& id, absl::Duration timeout);
// Every trial as CSV (one column per parameter) or as an aligned table.
absl::Status ListTrials(StudyStub& studies, const std::string& id, bool csv, absl::Duration timeout,
                        std::ostream& out);
// The trials of a study, following pages.
absl::StatusOr<std::vector<vmle::v1::Trial>> FetchTrials(StudyStub& studies, const std::string& id,
                                                         absl::Duration timeout);
// Writes every trial as CSV.
void WriteTrialsCsv(const std::vector<vmle::v1::Trial>& trials, std::ostream& out);

// Uploads the LLM transcript at `path` (operator role) as `id`, for studies to replay.
absl::Status UploadTranscript(StudyStub& studies, const std::string& id, const std::string& path,
                              absl::Duration timeout, std::ostream& out);

// Cognition summaries of the memory service: export as JSON (to `out`), import a
// JSON document.
absl::Status ExportCognition(vmle::v1::MemoryService::StubInterface& memory, const std::string& backbone,
                             absl::Duration timeout, std::ostream& out);
absl::Status ImportCognition(vmle::v1::MemoryService::StubInterface& memory, const std::string& path,
                             bool overwrite, absl::Duration timeout, std::ostream& out);

}  // namespace vmle::cli
