// libFuzzer target: the study-spec validator (services/agent/study/study_spec.h).
// Input: JSON text, parsed as a StudySpec with the protobuf JSON parser (what a
// `vmle submit --file` or a grpcurl user sends). Contract checked beyond "no crash":
// every refusal is INVALID_ARGUMENT; a normalised spec normalises again unchanged
// (as it does when a study is resumed) and yields its search spaces.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "services/agent/study/study_spec.h"

namespace {

void Check(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "contract broken: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  vmle::v1::StudySpec spec;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(text, &spec, options).ok()) return 0;

  absl::StatusOr<vmle::v1::StudySpec> normal = vmle::agent::NormalizeStudySpec(spec);
  if (!normal.ok()) {
    Check(normal.status().code() == absl::StatusCode::kInvalidArgument, "refusals are INVALID_ARGUMENT");
    return 0;
  }
  absl::StatusOr<vmle::v1::StudySpec> again = vmle::agent::NormalizeStudySpec(*normal);
  Check(again.ok(), "a normalised spec is valid");
  Check(google::protobuf::util::MessageDifferencer::Equals(*again, *normal), "normalising is idempotent");
  Check(vmle::agent::StudySearchSpace(*normal).ok(), "a normalised spec has a search space");
  Check(vmle::agent::PlannerSearchSpace(*normal).ok(), "a normalised spec has a planner space");
  return 0;
}
