#include "services/agent/study/memory_client.h"

#include <algorithm>
#include <thread>

#include "common/logging/logging.h"
#include "common/status/grpc_status.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/client_context.h"

namespace vmle::agent {
namespace {

bool Unreachable(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status);
}

}  // namespace

MemoryClient::MemoryClient(std::shared_ptr<grpc::Channel> channel, Options options)
    : channel_(channel),
      stub_(vmle::v1::MemoryService::NewStub(channel)),
      health_(grpc::health::v1::Health::NewStub(channel)),
      options_(options) {}

std::unique_ptr<MemoryClient> MemoryClient::WithOptions(Options options) const {
  return std::make_unique<MemoryClient>(channel_, options);
}

absl::StatusOr<int64_t> MemoryClient::LandedOr(const vmle::v1::Study& study, int64_t expected_version,
                                               const absl::Status& aborted) {
  if (expected_version <= 0) return aborted;
  absl::StatusOr<vmle::v1::Study> stored = GetStudy(study.id());
  if (!stored.ok() || stored->version() != expected_version + 1) return aborted;
  vmle::v1::Study written = study;
  written.set_version(expected_version + 1);
  // Another write to the same version (one whose caller gave up) is not this one.
  if (!google::protobuf::util::MessageDifferencer::Equals(*stored, written)) return aborted;
  return stored->version();
}

void MemoryClient::Shutdown() { shutdown_.store(true); }

bool MemoryClient::Reachable(absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  return health_->Check(&context, request, &response).ok() &&
         response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

template <typename Call>
absl::Status MemoryClient::Retry(const char* method, Call call) {
  absl::Duration backoff = options_.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
    const absl::Status status = FromGrpcStatus(call(&context));
    if (!Unreachable(status)) return status;
    if (shutdown_.load() || (options_.max_attempts > 0 && attempt >= options_.max_attempts)) {
      return absl::UnavailableError(std::string("memory service: ") + method + ": " +
                                    std::string(status.message()));
    }
    if (attempt == 1 || attempt % 20 == 0) {
      log::Warn("memory service unreachable, retrying",
                {{"method", method}, {"attempt", std::to_string(attempt)},
                 {"error", std::string(status.message())}});
    }
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

absl::StatusOr<vmle::v1::Study> MemoryClient::GetStudy(const std::string& study_id) {
  vmle::v1::GetStudyRecordRequest request;
  request.set_study_id(study_id);
  vmle::v1::Study response;
  const absl::Status status = Retry("GetStudy", [&](grpc::ClientContext* c) {
    return stub_->GetStudy(c, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<std::vector<vmle::v1::Study>> MemoryClient::ListStudies(
    const std::vector<vmle::v1::StudyState>& states) {
  std::vector<vmle::v1::Study> out;
  vmle::v1::ListStudyRecordsRequest request;
  for (vmle::v1::StudyState s : states) request.add_states(s);
  request.set_page_size(1000);
  do {
    vmle::v1::ListStudyRecordsResponse response;
    const absl::Status status = Retry("ListStudies", [&](grpc::ClientContext* c) {
      return stub_->ListStudies(c, request, &response);
    });
    if (!status.ok()) return status;
    for (auto& s : *response.mutable_studies()) out.push_back(std::move(s));
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  return out;
}

absl::StatusOr<std::vector<vmle::v1::Trial>> MemoryClient::ListTrials(const std::string& study_id) {
  std::vector<vmle::v1::Trial> out;
  vmle::v1::ListTrialRecordsRequest request;
  request.set_study_id(study_id);
  request.set_page_size(1000);
  do {
    vmle::v1::ListTrialRecordsResponse response;
    const absl::Status status = Retry("ListTrials", [&](grpc::ClientContext* c) {
      return stub_->ListTrials(c, request, &response);
    });
    if (!status.ok()) return status;
    for (auto& t : *response.mutable_trials()) out.push_back(std::move(t));
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  return out;
}

absl::StatusOr<int64_t> MemoryClient::Commit(absl::Span<const vmle::v1::Trial> trials,
                                             const vmle::v1::Study& study,
                                             const std::vector<vmle::v1::StudyEvent>& events,
                                             int64_t expected_version) {
  vmle::v1::CommitTrialResultRequest request;
  for (size_t i = 0; i < trials.size(); ++i) {
    *(i == 0 ? request.mutable_trial() : request.add_more_trials()) = trials[i];
  }
  *request.mutable_study() = study;
  for (const auto& e : events) *request.add_events() = e;
  request.set_expected_study_version(expected_version);
  vmle::v1::CommitTrialResultResponse response;
  const absl::Status status = Retry("CommitTrialResult", [&](grpc::ClientContext* c) {
    return stub_->CommitTrialResult(c, request, &response);
  });
  if (absl::IsAborted(status)) return LandedOr(study, expected_version, status);
  if (!status.ok()) return status;
  return response.study_version();
}

absl::StatusOr<std::vector<vmle::v1::StudyEvent>> MemoryClient::ListEvents(const std::string& study_id,
                                                                          int64_t after_sequence) {
  std::vector<vmle::v1::StudyEvent> out;
  for (;;) {
    vmle::v1::ListEventsRequest request;
    request.set_study_id(study_id);
    request.set_after_sequence(after_sequence);
    request.set_limit(1000);
    vmle::v1::ListEventsResponse response;
    const absl::Status status = Retry("ListEvents", [&](grpc::ClientContext* c) {
      return stub_->ListEvents(c, request, &response);
    });
    if (!status.ok()) return status;
    if (response.events().empty()) return out;
    after_sequence = response.events(response.events_size() - 1).sequence();
    for (auto& e : *response.mutable_events()) out.push_back(std::move(e));
  }
}

absl::Status MemoryClient::PutReflection(const vmle::v1::Reflection& reflection) {
  vmle::v1::PutReflectionRequest request;
  *request.mutable_reflection() = reflection;
  vmle::v1::PutReflectionResponse response;
  return Retry("PutReflection", [&](grpc::ClientContext* c) {
    return stub_->PutReflection(c, request, &response);
  });
}

absl::StatusOr<std::vector<vmle::v1::Reflection>> MemoryClient::ListReflections(
    const std::string& study_id) {
  vmle::v1::ListReflectionsRequest request;
  request.set_study_id(study_id);
  vmle::v1::ListReflectionsResponse response;
  const absl::Status status = Retry("ListReflections", [&](grpc::ClientContext* c) {
    return stub_->ListReflections(c, request, &response);
  });
  if (!status.ok()) return status;
  return std::vector<vmle::v1::Reflection>(response.reflections().begin(), response.reflections().end());
}

absl::Status MemoryClient::PutInsights(const vmle::v1::WorkingInsights& insights) {
  vmle::v1::PutInsightsRequest request;
  *request.mutable_insights() = insights;
  vmle::v1::PutInsightsResponse response;
  return Retry("PutInsights", [&](grpc::ClientContext* c) {
    return stub_->PutInsights(c, request, &response);
  });
}

absl::StatusOr<vmle::v1::WorkingInsights> MemoryClient::GetInsights(const std::string& study_id) {
  vmle::v1::GetInsightsRequest request;
  request.set_study_id(study_id);
  vmle::v1::WorkingInsights response;
  const absl::Status status = Retry("GetInsights", [&](grpc::ClientContext* c) {
    return stub_->GetInsights(c, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<std::string> MemoryClient::PutCognitionSummary(const vmle::v1::CognitionSummary& summary) {
  vmle::v1::PutCognitionSummaryRequest request;
  *request.mutable_summary() = summary;
  vmle::v1::PutCognitionSummaryResponse response;
  const absl::Status status = Retry("PutCognitionSummary", [&](grpc::ClientContext* c) {
    return stub_->PutCognitionSummary(c, request, &response);
  });
  if (!status.ok()) return status;
  return response.id();
}

absl::StatusOr<vmle::v1::CognitionSummary> MemoryClient::GetCognitionSummary(const std::string& id) {
  vmle::v1::GetCognitionSummaryRequest request;
  request.set_id(id);
  vmle::v1::CognitionSummary response;
  const absl::Status status = Retry("GetCognitionSummary", [&](grpc::ClientContext* c) {
    return stub_->GetCognitionSummary(c, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<std::vector<vmle::v1::ScoredCognitionSummary>> MemoryClient::RetrieveCognition(
    vmle::v1::Backbone backbone, const vmle::v1::DatasetProfile& profile, int k) {
  vmle::v1::RetrieveCognitionRequest request;
  request.set_backbone(backbone);
  *request.mutable_profile() = profile;
  request.set_k(k);
  vmle::v1::RetrieveCognitionResponse response;
  const absl::Status status = Retry("RetrieveCognition", [&](grpc::ClientContext* c) {
    return stub_->RetrieveCognition(c, request, &response);
  });
  if (!status.ok()) return status;
  return std::vector<vmle::v1::ScoredCognitionSummary>(response.results().begin(), response.results().end());
}

}  // namespace vmle::agent
