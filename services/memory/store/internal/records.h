// Small helpers shared by the memory store's .cc files.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/status/status_macros.h"
#include "services/memory/store/internal/database.h"
#include "services/memory/store/internal/validation.h"
#include "services/memory/store/memory_store.h"

namespace vmle::memory::internal {

inline RecordLimits LimitsOf(const MemoryStoreOptions& options) {
  RecordLimits limits;
  limits.max_record_bytes = options.max_record_bytes;
  limits.max_insights = options.max_insights;
  limits.max_events_per_write = options.max_events_per_write;
  return limits;
}

inline absl::Status InvalidField(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// A stored record; DATA_LOSS when its bytes do not parse (`what` names the record).
template <typename T>
absl::StatusOr<T> ParseRecord(absl::string_view bytes, absl::string_view what) {
  T record;
  if (!record.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(absl::StrCat("stored ", what, " does not parse"));
  }
  return record;
}

// Parses each record of `family` under `prefix`, from `start` on, in key order, and
// hands it to `consume` (returning whether to go on). DATA_LOSS for a record that does
// not parse.
template <typename T, typename Consume>
absl::Status ScanRecords(const Database& db, Family family, absl::string_view prefix,
                         absl::string_view start, Consume&& consume) {
  absl::Status parsed;
  RETURN_IF_ERROR(
      db.Scan(family, prefix, start, [&](absl::string_view key, absl::string_view value) {
        absl::StatusOr<T> record = ParseRecord<T>(
            value, absl::StrCat(FamilyName(family), " record '", absl::CHexEscape(key), "'"));
        if (!record.ok()) {
          parsed = record.status();
          return false;
        }
        return consume(std::move(*record));
      }));
  return parsed;
}

// Page sizes: 0 takes `fallback`, larger than `max` is clamped, negative is refused.
inline absl::StatusOr<int> PageSize(absl::string_view field, int requested, int fallback, int max) {
  if (requested < 0) return InvalidField(field, "must be >= 0 (0: the default)");
  if (requested == 0) return fallback;
  return requested > max ? max : requested;
}

}  // namespace vmle::memory::internal
