// MemoryStore: the agent's memory levels above the trial log: L1 reflections, L2
// working insights and L3 cognition summaries with their retrieval and exchange.
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/status/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "services/memory/store/cognition_json.h"
#include "services/memory/store/internal/database.h"
#include "services/memory/store/internal/keys.h"
#include "services/memory/store/internal/records.h"
#include "services/memory/store/internal/store_metrics.h"
#include "services/memory/store/memory_store.h"
#include "services/memory/store/retrieval.h"

namespace vmle::memory {
namespace {

using internal::Family;
using internal::InvalidField;
using internal::ParseRecord;
using internal::Tracked;
using internal::WriteTxn;

constexpr int kDefaultNeighbours = 3;
constexpr int kMaxNeighbours = 100;

std::string NewSummaryId() {
  std::random_device random;
  const uint64_t bits = (static_cast<uint64_t>(random()) << 32) | random();
  return absl::StrFormat("cs-%016x", bits);
}

// Every summary of `backbone` (all when unspecified), in id order.
absl::StatusOr<std::vector<v1::CognitionSummary>> LoadSummaries(const internal::Database& db,
                                                                v1::Backbone backbone) {
  std::vector<v1::CognitionSummary> summaries;
  RETURN_IF_ERROR(internal::ScanRecords<v1::CognitionSummary>(
      db, Family::kCognition, "", "", [&](v1::CognitionSummary summary) {
        if (backbone == v1::BACKBONE_UNSPECIFIED || summary.backbone() == backbone) {
          summaries.push_back(std::move(summary));
        }
        return true;
      }));
  return summaries;
}

// Validates the summaries of an import; assigns ids to those without one.
absl::Status PrepareImport(std::vector<v1::CognitionSummary>& summaries,
                           const internal::RecordLimits& limits) {
  absl::flat_hash_set<std::string> seen;
  for (size_t i = 0; i < summaries.size(); ++i) {
    const std::string field = absl::StrCat("json.summaries[", i, "]");
    RETURN_IF_ERROR(internal::ValidateSummary(field, summaries[i], limits));
    if (summaries[i].id().empty()) summaries[i].set_id(NewSummaryId());
    if (!seen.insert(summaries[i].id()).second) {
      return InvalidField(absl::StrCat(field, ".id"),
                          absl::StrCat("'", summaries[i].id(), "' appears more than once"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::PutReflectionResponse> MemoryStore::PutReflection(
    const v1::PutReflectionRequest& request) {
  return Tracked(
      metrics_.get(), "put_reflection", [&]() -> absl::StatusOr<v1::PutReflectionResponse> {
        if (!request.has_reflection()) return InvalidField("reflection", "must be set");
        v1::Reflection reflection = request.reflection();
        RETURN_IF_ERROR(
            internal::ValidateReflection("reflection", reflection, internal::LimitsOf(options_)));
        ASSIGN_OR_RETURN(const v1::Trial trial,
                         LoadTrial(reflection.study_id(), reflection.trial_id()));
        if (reflection.trial_number() == 0) reflection.set_trial_number(trial.number());
        if (reflection.trial_number() != trial.number()) {
          return InvalidField("reflection.trial_number",
                              absl::StrCat(reflection.trial_number(), " differs from trial '",
                                           trial.id(), "', number ", trial.number()));
        }
        const std::string key = internal::TrialKey(reflection.study_id(), trial.number());
        std::unique_ptr<WriteTxn> txn = db_->Begin();
        RETURN_IF_ERROR(txn->GetForUpdate(Family::kReflections, key).status());
        RETURN_IF_ERROR(txn->Put(Family::kReflections, key, reflection.SerializeAsString()));
        RETURN_IF_ERROR(txn->Commit());
        PublishRecordCounts();
        return v1::PutReflectionResponse();
      });
}

absl::StatusOr<v1::ListReflectionsResponse> MemoryStore::ListReflections(
    const v1::ListReflectionsRequest& request) {
  return Tracked(metrics_.get(), "list_reflections",
                 [&]() -> absl::StatusOr<v1::ListReflectionsResponse> {
                   RETURN_IF_ERROR(internal::ValidateId("study_id", request.study_id()));
                   RETURN_IF_ERROR(LoadStudy(request.study_id()).status());
                   v1::ListReflectionsResponse response;
                   const std::string prefix = internal::StudyPrefix(request.study_id());
                   RETURN_IF_ERROR(internal::ScanRecords<v1::Reflection>(
                       *db_, Family::kReflections, prefix, prefix, [&](v1::Reflection reflection) {
                         *response.add_reflections() = std::move(reflection);
                         return true;
                       }));
                   return response;
                 });
}

absl::StatusOr<v1::PutInsightsResponse> MemoryStore::PutInsights(
    const v1::PutInsightsRequest& request) {
  return Tracked(metrics_.get(), "put_insights", [&]() -> absl::StatusOr<v1::PutInsightsResponse> {
    if (!request.has_insights()) return InvalidField("insights", "must be set");
    const v1::WorkingInsights& insights = request.insights();
    RETURN_IF_ERROR(internal::ValidateInsights("insights", insights, internal::LimitsOf(options_)));
    RETURN_IF_ERROR(LoadStudy(insights.study_id()).status());
    std::unique_ptr<WriteTxn> txn = db_->Begin();
    RETURN_IF_ERROR(txn->GetForUpdate(Family::kInsights, insights.study_id()).status());
    RETURN_IF_ERROR(txn->Put(Family::kInsights, insights.study_id(), insights.SerializeAsString()));
    RETURN_IF_ERROR(txn->Commit());
    PublishRecordCounts();
    return v1::PutInsightsResponse();
  });
}

absl::StatusOr<v1::WorkingInsights> MemoryStore::GetInsights(
    const v1::GetInsightsRequest& request) {
  return Tracked(metrics_.get(), "get_insights", [&]() -> absl::StatusOr<v1::WorkingInsights> {
    RETURN_IF_ERROR(internal::ValidateId("study_id", request.study_id()));
    RETURN_IF_ERROR(LoadStudy(request.study_id()).status());
    ASSIGN_OR_RETURN(std::optional<std::string> bytes,
                     db_->Get(Family::kInsights, request.study_id()));
    if (!bytes.has_value()) {
      v1::WorkingInsights empty;
      empty.set_study_id(request.study_id());
      return empty;
    }
    return ParseRecord<v1::WorkingInsights>(*bytes, "working insights");
  });
}

absl::StatusOr<v1::PutCognitionSummaryResponse> MemoryStore::PutCognitionSummary(
    const v1::PutCognitionSummaryRequest& request) {
  return Tracked(
      metrics_.get(), "put_cognition", [&]() -> absl::StatusOr<v1::PutCognitionSummaryResponse> {
        if (!request.has_summary()) return InvalidField("summary", "must be set");
        v1::CognitionSummary summary = request.summary();
        RETURN_IF_ERROR(
            internal::ValidateSummary("summary", summary, internal::LimitsOf(options_)));
        if (!summary.has_created_at()) {
          *summary.mutable_created_at() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
              absl::ToUnixNanos(absl::Now()));
        }
        std::unique_ptr<WriteTxn> txn = db_->Begin();
        if (summary.id().empty()) {
          // A fresh random id; draw again in the (astronomically rare) case it is taken.
          for (;;) {
            summary.set_id(NewSummaryId());
            ASSIGN_OR_RETURN(std::optional<std::string> taken,
                             txn->GetForUpdate(Family::kCognition, summary.id()));
            if (!taken.has_value()) break;
          }
        } else {
          RETURN_IF_ERROR(txn->GetForUpdate(Family::kCognition, summary.id()).status());
        }
        RETURN_IF_ERROR(txn->Put(Family::kCognition, summary.id(), summary.SerializeAsString()));
        RETURN_IF_ERROR(txn->Commit());
        PublishRecordCounts();
        v1::PutCognitionSummaryResponse response;
        response.set_id(summary.id());
        return response;
      });
}

absl::StatusOr<v1::CognitionSummary> MemoryStore::GetCognitionSummary(
    const v1::GetCognitionSummaryRequest& request) {
  return Tracked(metrics_.get(), "get_cognition", [&]() -> absl::StatusOr<v1::CognitionSummary> {
    RETURN_IF_ERROR(internal::ValidateId("id", request.id()));
    ASSIGN_OR_RETURN(std::optional<std::string> bytes, db_->Get(Family::kCognition, request.id()));
    if (!bytes.has_value()) {
      return absl::NotFoundError(absl::StrCat("cognition summary '", request.id(), "' not found"));
    }
    return ParseRecord<v1::CognitionSummary>(*bytes, "cognition summary");
  });
}

absl::StatusOr<v1::ListCognitionSummariesResponse> MemoryStore::ListCognitionSummaries(
    const v1::ListCognitionSummariesRequest& request) {
  return Tracked(metrics_.get(), "list_cognition",
                 [&]() -> absl::StatusOr<v1::ListCognitionSummariesResponse> {
                   ASSIGN_OR_RETURN(std::vector<v1::CognitionSummary> summaries,
                                    LoadSummaries(*db_, request.backbone()));
                   v1::ListCognitionSummariesResponse response;
                   for (v1::CognitionSummary& s : summaries)
                     *response.add_summaries() = std::move(s);
                   return response;
                 });
}

absl::StatusOr<v1::RetrieveCognitionResponse> MemoryStore::RetrieveCognition(
    const v1::RetrieveCognitionRequest& request) {
  return Tracked(
      metrics_.get(), "retrieve_cognition", [&]() -> absl::StatusOr<v1::RetrieveCognitionResponse> {
        if (!request.has_profile()) {
          return InvalidField("profile", "must be set: summaries are retrieved by profile");
        }
        RETURN_IF_ERROR(internal::ValidateProfile("profile", request.profile()));
        ASSIGN_OR_RETURN(const int k,
                         internal::PageSize("k", request.k(), kDefaultNeighbours, kMaxNeighbours));
        ASSIGN_OR_RETURN(std::vector<v1::CognitionSummary> summaries,
                         LoadSummaries(*db_, request.backbone()));
        v1::RetrieveCognitionResponse response;
        for (v1::ScoredCognitionSummary& s :
             NearestSummaries(std::move(summaries), request.profile(), k, options_.retrieval)) {
          *response.add_results() = std::move(s);
        }
        return response;
      });
}

absl::StatusOr<v1::ExportCognitionResponse> MemoryStore::ExportCognition(
    const v1::ExportCognitionRequest& request) {
  return Tracked(metrics_.get(), "export_cognition",
                 [&]() -> absl::StatusOr<v1::ExportCognitionResponse> {
                   ASSIGN_OR_RETURN(std::vector<v1::CognitionSummary> summaries,
                                    LoadSummaries(*db_, request.backbone()));
                   v1::ExportCognitionResponse response;
                   ASSIGN_OR_RETURN(*response.mutable_json(), CognitionToJson(summaries));
                   response.set_count(static_cast<int32_t>(summaries.size()));
                   return response;
                 });
}

absl::StatusOr<v1::ImportCognitionResponse> MemoryStore::ImportCognition(
    const v1::ImportCognitionRequest& request) {
  return Tracked(metrics_.get(), "import_cognition",
                 [&]() -> absl::StatusOr<v1::ImportCognitionResponse> {
                   if (request.json().empty()) return InvalidField("json", "must be non-empty");
                   ASSIGN_OR_RETURN(std::vector<v1::CognitionSummary> summaries,
                                    CognitionFromJson(request.json()));
                   RETURN_IF_ERROR(PrepareImport(summaries, internal::LimitsOf(options_)));
                   v1::ImportCognitionResponse response;
                   std::unique_ptr<WriteTxn> txn = db_->Begin();
                   for (const v1::CognitionSummary& s : summaries) {
                     ASSIGN_OR_RETURN(std::optional<std::string> stored,
                                      txn->GetForUpdate(Family::kCognition, s.id()));
                     if (stored.has_value() && !request.overwrite()) {
                       response.set_skipped(response.skipped() + 1);
                       continue;
                     }
                     RETURN_IF_ERROR(txn->Put(Family::kCognition, s.id(), s.SerializeAsString()));
                     response.set_imported(response.imported() + 1);
                   }
                   RETURN_IF_ERROR(txn->Commit());
                   PublishRecordCounts();
                   return response;
                 });
}

}  // namespace vmle::memory
