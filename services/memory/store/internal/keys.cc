#include "services/memory/store/internal/keys.h"

namespace vmle::memory::internal {
namespace {

void AppendBigEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

}  // namespace

std::string StudyPrefix(absl::string_view study_id) {
  std::string key(study_id);
  key.push_back('\0');
  return key;
}

std::string TrialKey(absl::string_view study_id, int32_t number) {
  std::string key = StudyPrefix(study_id);
  AppendBigEndian(key, static_cast<uint32_t>(number), 4);
  return key;
}

std::string TrialIdKey(absl::string_view study_id, absl::string_view trial_id) {
  std::string key = StudyPrefix(study_id);
  key.append(trial_id.data(), trial_id.size());
  return key;
}

std::string EventKey(absl::string_view study_id, int64_t sequence) {
  std::string key = StudyPrefix(study_id);
  AppendBigEndian(key, static_cast<uint64_t>(sequence), 8);
  return key;
}

std::string EncodeTrialNumber(int32_t number) {
  std::string value;
  AppendBigEndian(value, static_cast<uint32_t>(number), 4);
  return value;
}

std::optional<int32_t> DecodeTrialNumber(absl::string_view value) {
  if (value.size() != 4) return std::nullopt;
  uint32_t n = 0;
  for (char c : value) n = (n << 8) | static_cast<unsigned char>(c);
  return static_cast<int32_t>(n);
}

}  // namespace vmle::memory::internal
