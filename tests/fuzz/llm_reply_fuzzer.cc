// libFuzzer target: the LLM reply parser (services/agent/planner/llm_reply.h).
// Input: byte 0 picks the parser (proposals, reflection, summary) and the backbone;
// the rest is the model's reply. Contract checked beyond "no crash": every
// refusal is INVALID_ARGUMENT, and each proposal kept is a complete configuration
// of the space.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "common/space/space_proto.h"
#include "services/agent/planner/llm/llm_reply.h"

namespace {

void Check(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "contract broken: %s\n", what);
  std::abort();
}

template <typename T>
void CheckRefusal(const absl::StatusOr<T>& result) {
  Check(result.ok() || result.status().code() == absl::StatusCode::kInvalidArgument,
        "refusals are INVALID_ARGUMENT");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t control = data[0];
  const std::string_view reply(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto backbone = (control & 4) ? vmle::space::Backbone::kHSTU : vmle::space::Backbone::kSASRec;
  const vmle::space::SearchSpace& space = vmle::space::DefaultSearchSpace(backbone);
  switch (control & 3) {
    case 0: {
      // The complete default configuration of each backbone, as a study starts from.
      static const vmle::v1::Configuration* bases = [] {
        auto* configs = new vmle::v1::Configuration[2];
        for (int b = 0; b < 2; ++b) {
          auto config = vmle::space::CompleteConfiguration(
              vmle::space::DefaultSearchSpace(b ? vmle::space::Backbone::kHSTU : vmle::space::Backbone::kSASRec),
              {});
          if (!config.ok()) std::abort();
          configs[b] = *config;
        }
        return configs;
      }();
      const vmle::v1::Configuration* base = &bases[(control & 4) ? 1 : 0];
      auto proposals = vmle::agent::ParseProposals(reply, space, *base);
      CheckRefusal(proposals);
      if (proposals.ok()) {
        for (const auto& p : proposals->proposals) {
          Check(vmle::space::CompleteConfiguration(space, p.config).ok(), "a kept proposal is in the space");
        }
      }
      break;
    }
    case 1:
      CheckRefusal(vmle::agent::ParseReflection(reply));
      break;
    default:
      CheckRefusal(vmle::agent::ParseSummary(reply, space));
      break;
  }
  return 0;
}
