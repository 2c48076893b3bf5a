// Validation of the records the memory store accepts. Every error is
// INVALID_ARGUMENT and starts with the path of the offending field as the request
// names it, e.g. "trial.number: must be positive" or "events[2].study_id: ...".
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "vmle/v1/common.pb.h"
#include "vmle/v1/memory.pb.h"
#include "vmle/v1/study.pb.h"

namespace vmle::memory::internal {

struct RecordLimits {
  // Largest serialized record.
  size_t max_record_bytes = 4 << 20;
  // Largest working-insight list.
  int max_insights = 64;
  // Most events in one write.
  int max_events_per_write = 10000;
};

// Longest id (study, trial, summary).
inline constexpr size_t kMaxIdBytes = 128;

// Ids are 1..128 bytes of [A-Za-z0-9._:-]; they are key prefixes, so no NUL.
absl::Status ValidateId(absl::string_view field, absl::string_view id);
// INVALID_ARGUMENT naming the largest field when `record` serializes to more than
// `max_bytes`.
absl::Status CheckSize(absl::string_view field, const google::protobuf::Message& record,
                       size_t max_bytes);

absl::Status ValidateStudy(absl::string_view field, const v1::Study& study,
                           const RecordLimits& limits);
absl::Status ValidateTrial(absl::string_view field, const v1::Trial& trial,
                           const RecordLimits& limits);
// Events of one write: all of one study (`study_id` when non-empty), sequences
// positive and increasing, at most max_events_per_write.
absl::Status ValidateEvents(absl::string_view field,
                            const google::protobuf::RepeatedPtrField<v1::StudyEvent>& events,
                            absl::string_view study_id, const RecordLimits& limits);
absl::Status ValidateReflection(absl::string_view field, const v1::Reflection& reflection,
                                const RecordLimits& limits);
absl::Status ValidateInsights(absl::string_view field, const v1::WorkingInsights& insights,
                              const RecordLimits& limits);
// A summary needs a backbone and a valid dataset profile (its retrieval key); an
// empty id is allowed (the store assigns one).
absl::Status ValidateSummary(absl::string_view field, const v1::CognitionSummary& summary,
                             const RecordLimits& limits);
// Users, items and interactions positive; fractions in [0, 1]; lengths finite, >= 0.
absl::Status ValidateProfile(absl::string_view field, const v1::DatasetProfile& profile);

}  // namespace vmle::memory::internal
