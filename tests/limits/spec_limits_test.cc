// The bounds NormalizeStudySpec puts on a submitted spec: string lengths, trials,
// search-space and option sizes. Each refusal is INVALID_ARGUMENT naming the field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "services/agent/study/study_spec.h"

namespace vmle::agent {
namespace {

using ::testing::HasSubstr;

vmle::v1::StudySpec Valid() {
  vmle::v1::StudySpec spec;
  spec.mutable_dataset()->set_format(vmle::v1::DATASET_FORMAT_SYNTHETIC);
  spec.mutable_budget()->set_max_trials(4);
  spec.mutable_planner()->set_name("random");
  return spec;
}

void ExpectRefused(const vmle::v1::StudySpec& spec, const std::string& field) {
  const absl::StatusOr<vmle::v1::StudySpec> normal = NormalizeStudySpec(spec);
  EXPECT_EQ(normal.status().code(), absl::StatusCode::kInvalidArgument) << field;
  EXPECT_THAT(normal.status().message(), HasSubstr(field));
}

TEST(SpecLimitsTest, TheValidBaseIsAccepted) { EXPECT_TRUE(NormalizeStudySpec(Valid()).ok()); }

TEST(SpecLimitsTest, LongStringsAreRefused) {
  vmle::v1::StudySpec name = Valid();
  name.set_name(std::string(201, 'n'));
  ExpectRefused(name, "spec.name: 201 bytes exceed 200");
  vmle::v1::StudySpec path = Valid();
  path.mutable_dataset()->set_format(vmle::v1::DATASET_FORMAT_SEQUENTIAL);
  path.mutable_dataset()->set_path(std::string(1025, 'p'));
  ExpectRefused(path, "spec.dataset.path: 1025 bytes exceed 1024");
}

TEST(SpecLimitsTest, TrialsPerStudyAreBounded) {
  vmle::v1::StudySpec spec = Valid();
  spec.mutable_budget()->set_max_trials(10000);
  EXPECT_TRUE(NormalizeStudySpec(spec).ok());
  spec.mutable_budget()->set_max_trials(10001);
  ExpectRefused(spec, "spec.budget.max_trials: must be in [1, 10000], got 10001");
}

TEST(SpecLimitsTest, SearchSpaceSizesAreBounded) {
  vmle::v1::StudySpec params = Valid();
  for (int i = 0; i < 65; ++i) params.mutable_search_space()->add_params()->set_name(absl::StrCat("p", i));
  ExpectRefused(params, "spec.search_space.params: 65 parameters exceed 64");

  vmle::v1::StudySpec choices = Valid();
  vmle::v1::ParamSpec* optimizer = choices.mutable_search_space()->add_params();
  optimizer->set_name("optimizer");
  for (int i = 0; i < 257; ++i) optimizer->mutable_categorical()->add_choices(absl::StrCat("c", i));
  ExpectRefused(choices, "spec.search_space.optimizer: 257 choices exceed 256");

  vmle::v1::StudySpec fixed = Valid();
  for (int i = 0; i < 65; ++i) (*fixed.mutable_fixed()->mutable_values())[absl::StrCat("k", i)].set_int_value(1);
  ExpectRefused(fixed, "spec.fixed: 65 values exceed 64");
}

TEST(SpecLimitsTest, PlannerOptionsAreBounded) {
  vmle::v1::StudySpec many = Valid();
  for (int i = 0; i < 65; ++i) (*many.mutable_planner()->mutable_options())[absl::StrCat("o", i)] = "1";
  ExpectRefused(many, "spec.planner.options: 65 options exceed 64");
  vmle::v1::StudySpec big = Valid();
  (*big.mutable_planner()->mutable_options())["seed_trials"] = std::string(5000, '1');
  ExpectRefused(big, "spec.planner.options: an option of 5011 bytes exceeds 4096");
}

}  // namespace
}  // namespace vmle::agent
