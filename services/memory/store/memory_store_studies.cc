// MemoryStore: studies, the L0 trial log and study events.
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status/message.h"
#include "common/status/status_macros.h"
#include "services/memory/store/internal/database.h"
#include "services/memory/store/internal/keys.h"
#include "services/memory/store/internal/records.h"
#include "services/memory/store/internal/store_metrics.h"
#include "services/memory/store/memory_store.h"

namespace vmle::memory {
namespace {

using internal::Family;
using internal::InvalidField;
using internal::ParseRecord;
using internal::Tracked;
using internal::WriteTxn;

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr int kDefaultEventLimit = 1000;
constexpr int kMaxEventLimit = 10000;

// Locks the stored study, checks `expected_version` (> 0) against it and writes `study`
// with the next version, which it returns. The study must exist when `must_exist`.
absl::StatusOr<int64_t> StageStudy(WriteTxn& txn, const v1::Study& study, int64_t expected_version,
                                   bool must_exist) {
  ASSIGN_OR_RETURN(std::optional<std::string> current,
                   txn.GetForUpdate(Family::kStudies, study.id()));
  int64_t version = 0;
  if (current.has_value()) {
    ASSIGN_OR_RETURN(v1::Study stored,
                     ParseRecord<v1::Study>(*current, absl::StrCat("study '", study.id(), "'")));
    version = stored.version();
  } else if (must_exist || expected_version > 0) {
    return absl::NotFoundError(absl::StrCat("study '", study.id(), "' not found",
                                            must_exist ? "; store it with PutStudy first" : ""));
  }
  if (expected_version > 0 && expected_version != version) {
    return absl::AbortedError(absl::StrCat("study '", study.id(), "' is at version ", version,
                                           ", not the expected ", expected_version,
                                           "; re-read it and retry"));
  }
  v1::Study next = study;
  next.set_version(version + 1);
  RETURN_IF_ERROR(txn.Put(Family::kStudies, study.id(), next.SerializeAsString()));
  return version + 1;
}

// Writes `trial`, keeping each trial id on one number and each number on one id.
absl::Status StageTrial(WriteTxn& txn, const v1::Trial& trial) {
  const std::string id_key = internal::TrialIdKey(trial.study_id(), trial.id());
  ASSIGN_OR_RETURN(std::optional<std::string> indexed, txn.GetForUpdate(Family::kTrialIds, id_key));
  if (indexed.has_value()) {
    const std::optional<int32_t> number = internal::DecodeTrialNumber(*indexed);
    if (!number.has_value()) {
      return absl::DataLossError(
          absl::StrCat("stored index of trial '", trial.id(), "' is malformed"));
    }
    if (*number != trial.number()) {
      return absl::AlreadyExistsError(absl::StrCat("trial.number: trial '", trial.id(),
                                                   "' of study '", trial.study_id(),
                                                   "' is stored as number ", *number, ", not ",
                                                   trial.number(), "; a trial keeps its number"));
    }
  }
  const std::string key = internal::TrialKey(trial.study_id(), trial.number());
  ASSIGN_OR_RETURN(std::optional<std::string> current, txn.GetForUpdate(Family::kTrials, key));
  if (current.has_value() && !indexed.has_value()) {
    ASSIGN_OR_RETURN(v1::Trial other, ParseRecord<v1::Trial>(*current, "trial"));
    return absl::AlreadyExistsError(absl::StrCat("trial.number: number ", trial.number(),
                                                 " of study '", trial.study_id(),
                                                 "' already belongs to trial '", other.id(), "'"));
  }
  if (!indexed.has_value()) {
    RETURN_IF_ERROR(
        txn.Put(Family::kTrialIds, id_key, internal::EncodeTrialNumber(trial.number())));
  }
  return txn.Put(Family::kTrials, key, trial.SerializeAsString());
}

// Appends `events` (validated, of one study). An event stored with the same content is
// skipped, so a retried append succeeds; other content at its sequence is refused.
absl::Status StageEvents(WriteTxn& txn,
                         const google::protobuf::RepeatedPtrField<v1::StudyEvent>& events) {
  for (int i = 0; i < events.size(); ++i) {
    const v1::StudyEvent& e = events[i];
    const std::string key = internal::EventKey(e.study_id(), e.sequence());
    ASSIGN_OR_RETURN(std::optional<std::string> current, txn.GetForUpdate(Family::kEvents, key));
    const std::string bytes = e.SerializeAsString();
    if (current.has_value()) {
      if (*current == bytes) continue;
      return absl::AlreadyExistsError(absl::StrCat("events[", i, "].sequence: event ", e.sequence(),
                                                   " of study '", e.study_id(),
                                                   "' is already stored with other content"));
    }
    RETURN_IF_ERROR(txn.Put(Family::kEvents, key, bytes));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::PutStudyResponse> MemoryStore::PutStudy(const v1::PutStudyRequest& request) {
  return Tracked(metrics_.get(), "put_study", [&]() -> absl::StatusOr<v1::PutStudyResponse> {
    if (!request.has_study()) return InvalidField("study", "must be set");
    RETURN_IF_ERROR(
        internal::ValidateStudy("study", request.study(), internal::LimitsOf(options_)));
    if (request.expected_version() < 0) {
      return InvalidField("expected_version", "must be >= 0 (0: unconditional)");
    }
    std::unique_ptr<WriteTxn> txn = db_->Begin();
    ASSIGN_OR_RETURN(const int64_t version,
                     StageStudy(*txn, request.study(), request.expected_version(), false));
    RETURN_IF_ERROR(txn->Commit());
    PublishRecordCounts();
    v1::PutStudyResponse response;
    response.set_version(version);
    return response;
  });
}

absl::StatusOr<v1::Study> MemoryStore::GetStudy(const v1::GetStudyRecordRequest& request) {
  return Tracked(metrics_.get(), "get_study", [&]() -> absl::StatusOr<v1::Study> {
    RETURN_IF_ERROR(internal::ValidateId("study_id", request.study_id()));
    return LoadStudy(request.study_id());
  });
}

absl::StatusOr<v1::ListStudyRecordsResponse> MemoryStore::ListStudies(
    const v1::ListStudyRecordsRequest& request) {
  return Tracked(
      metrics_.get(), "list_studies", [&]() -> absl::StatusOr<v1::ListStudyRecordsResponse> {
        ASSIGN_OR_RETURN(const int page_size, internal::PageSize("page_size", request.page_size(),
                                                                 kDefaultPageSize, kMaxPageSize));
        std::string start;
        if (!request.page_token().empty()) {
          RETURN_IF_ERROR(internal::ValidateId("page_token", request.page_token()));
          start = request.page_token() + std::string(1, '\0');  // the first id after it
        }
        const absl::flat_hash_set<int> states(request.states().begin(), request.states().end());
        v1::ListStudyRecordsResponse response;
        RETURN_IF_ERROR(internal::ScanRecords<v1::Study>(
            *db_, Family::kStudies, "", start, [&](v1::Study study) {
              if (states.empty() || states.contains(study.state())) {
                *response.add_studies() = std::move(study);
              }
              return response.studies_size() <= page_size;
            }));
        if (response.studies_size() > page_size) {
          response.mutable_studies()->RemoveLast();
          response.set_next_page_token(response.studies(page_size - 1).id());
        }
        return response;
      });
}

absl::StatusOr<v1::PutTrialResponse> MemoryStore::PutTrial(const v1::PutTrialRequest& request) {
  return Tracked(metrics_.get(), "put_trial", [&]() -> absl::StatusOr<v1::PutTrialResponse> {
    if (!request.has_trial()) return InvalidField("trial", "must be set");
    RETURN_IF_ERROR(
        internal::ValidateTrial("trial", request.trial(), internal::LimitsOf(options_)));
    // Studies are never deleted, so the study cannot vanish before the commit.
    RETURN_IF_ERROR(LoadStudy(request.trial().study_id()).status());
    std::unique_ptr<WriteTxn> txn = db_->Begin();
    RETURN_IF_ERROR(StageTrial(*txn, request.trial()));
    RETURN_IF_ERROR(txn->Commit());
    PublishRecordCounts();
    return v1::PutTrialResponse();
  });
}

absl::StatusOr<v1::Trial> MemoryStore::GetTrial(const v1::GetTrialRequest& request) {
  return Tracked(metrics_.get(), "get_trial", [&]() -> absl::StatusOr<v1::Trial> {
    RETURN_IF_ERROR(internal::ValidateId("study_id", request.study_id()));
    RETURN_IF_ERROR(internal::ValidateId("trial_id", request.trial_id()));
    return LoadTrial(request.study_id(), request.trial_id());
  });
}

absl::StatusOr<v1::ListTrialRecordsResponse> MemoryStore::ListTrials(
    const v1::ListTrialRecordsRequest& request) {
  return Tracked(
      metrics_.get(), "list_trials", [&]() -> absl::StatusOr<v1::ListTrialRecordsResponse> {
        RETURN_IF_ERROR(internal::ValidateId("study_id", request.study_id()));
        ASSIGN_OR_RETURN(const int page_size, internal::PageSize("page_size", request.page_size(),
                                                                 kDefaultPageSize, kMaxPageSize));
        int32_t after = 0;
        if (!request.page_token().empty() &&
            (!absl::SimpleAtoi(request.page_token(), &after) || after <= 0 ||
             after == std::numeric_limits<int32_t>::max())) {
          return InvalidField("page_token", "not a token from a ListTrials response");
        }
        RETURN_IF_ERROR(LoadStudy(request.study_id()).status());
        const std::string& study_id = request.study_id();
        v1::ListTrialRecordsResponse response;
        RETURN_IF_ERROR(internal::ScanRecords<v1::Trial>(
            *db_, Family::kTrials, internal::StudyPrefix(study_id),
            internal::TrialKey(study_id, after + 1), [&](v1::Trial trial) {
              *response.add_trials() = std::move(trial);
              return response.trials_size() <= page_size;
            }));
        if (response.trials_size() > page_size) {
          response.mutable_trials()->RemoveLast();
          response.set_next_page_token(absl::StrCat(response.trials(page_size - 1).number()));
        }
        return response;
      });
}

absl::StatusOr<v1::CommitTrialResultResponse> MemoryStore::CommitTrialResult(
    const v1::CommitTrialResultRequest& request) {
  return Tracked(
      metrics_.get(), "commit_trial_result",
      [&]() -> absl::StatusOr<v1::CommitTrialResultResponse> {
        const internal::RecordLimits limits = internal::LimitsOf(options_);
        if (!request.has_study()) return InvalidField("study", "must be set");
        if (request.more_trials_size() > 0 && !request.has_trial()) {
          return InvalidField("more_trials", "needs trial set (the first of the trials)");
        }
        RETURN_IF_ERROR(internal::ValidateStudy("study", request.study(), limits));
        // Every trial of the request: of this study, each with its own number.
        std::vector<std::pair<std::string, const v1::Trial*>> trials;
        if (request.has_trial()) trials.emplace_back("trial", &request.trial());
        for (int i = 0; i < request.more_trials_size(); ++i) {
          trials.emplace_back(absl::StrCat("more_trials[", i, "]"), &request.more_trials(i));
        }
        std::set<int32_t> numbers;
        for (const auto& [field, trial] : trials) {
          RETURN_IF_ERROR(internal::ValidateTrial(field, *trial, limits));
          if (trial->study_id() != request.study().id()) {
            return InvalidField(field + ".study_id",
                                absl::StrCat("'", TruncateForMessage(trial->study_id(), 100),
                                             "' differs from study.id '", request.study().id(), "'"));
          }
          if (!numbers.insert(trial->number()).second) {
            return InvalidField(field + ".number",
                                absl::StrCat(trial->number(), " is another trial's of this request"));
          }
        }
        RETURN_IF_ERROR(
            internal::ValidateEvents("events", request.events(), request.study().id(), limits));
        if (request.expected_study_version() < 0) {
          return InvalidField("expected_study_version", "must be >= 0 (0: unconditional)");
        }
        // Lock order: study, trial, events (see WriteTxn).
        std::unique_ptr<WriteTxn> txn = db_->Begin();
        ASSIGN_OR_RETURN(const int64_t version,
                         StageStudy(*txn, request.study(), request.expected_study_version(),
                                    !trials.empty()));
        for (const auto& [field, trial] : trials) RETURN_IF_ERROR(StageTrial(*txn, *trial));
        RETURN_IF_ERROR(StageEvents(*txn, request.events()));
        RETURN_IF_ERROR(txn->Commit());
        PublishRecordCounts();
        v1::CommitTrialResultResponse response;
        response.set_study_version(version);
        return response;
      });
}

absl::StatusOr<v1::AppendEventsResponse> MemoryStore::AppendEvents(
    const v1::AppendEventsRequest& request) {
  return Tracked(
      metrics_.get(), "append_events", [&]() -> absl::StatusOr<v1::AppendEventsResponse> {
        if (request.events().empty()) return InvalidField("events", "must hold at least one event");
        RETURN_IF_ERROR(
            internal::ValidateEvents("events", request.events(), "", internal::LimitsOf(options_)));
        RETURN_IF_ERROR(LoadStudy(request.events(0).study_id()).status());
        std::unique_ptr<WriteTxn> txn = db_->Begin();
        RETURN_IF_ERROR(StageEvents(*txn, request.events()));
        RETURN_IF_ERROR(txn->Commit());
        PublishRecordCounts();
        return v1::AppendEventsResponse();
      });
}

absl::StatusOr<v1::ListEventsResponse> MemoryStore::ListEvents(
    const v1::ListEventsRequest& request) {
  return Tracked(metrics_.get(), "list_events", [&]() -> absl::StatusOr<v1::ListEventsResponse> {
    RETURN_IF_ERROR(internal::ValidateId("study_id", request.study_id()));
    if (request.after_sequence() < 0) return InvalidField("after_sequence", "must be >= 0");
    ASSIGN_OR_RETURN(const int limit, internal::PageSize("limit", request.limit(),
                                                         kDefaultEventLimit, kMaxEventLimit));
    RETURN_IF_ERROR(LoadStudy(request.study_id()).status());
    v1::ListEventsResponse response;
    if (request.after_sequence() == std::numeric_limits<int64_t>::max()) return response;
    const std::string& study_id = request.study_id();
    RETURN_IF_ERROR(internal::ScanRecords<v1::StudyEvent>(
        *db_, Family::kEvents, internal::StudyPrefix(study_id),
        internal::EventKey(study_id, request.after_sequence() + 1), [&](v1::StudyEvent event) {
          *response.add_events() = std::move(event);
          return response.events_size() < limit;
        }));
    return response;
  });
}

}  // namespace vmle::memory
