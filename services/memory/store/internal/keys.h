// Key encodings of the memory store. A study's records share the prefix
// "<study id>\0" (ids never contain NUL, see validation.h) followed by a big-endian
// number, so RocksDB's bytewise order is the per-study numeric order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace vmle::memory::internal {

// "<study id>\0": every key of one study in trials, trial_ids, events, reflections.
std::string StudyPrefix(absl::string_view study_id);
// prefix + 4 bytes big-endian trial number (trials, reflections).
std::string TrialKey(absl::string_view study_id, int32_t number);
// prefix + trial id (the trial_ids index).
std::string TrialIdKey(absl::string_view study_id, absl::string_view trial_id);
// prefix + 8 bytes big-endian sequence (events).
std::string EventKey(absl::string_view study_id, int64_t sequence);

// A trial_ids value: the trial number, 4 bytes big-endian; nullopt when malformed.
std::string EncodeTrialNumber(int32_t number);
std::optional<int32_t> DecodeTrialNumber(absl::string_view value);

}  // namespace vmle::memory::internal
