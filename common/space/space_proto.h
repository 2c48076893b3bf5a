// The search space and configurations in their wire form (vmle.v1.SearchSpace,
// Configuration): conversions to and from the tables of search_space.h, so the
// agent, the worker and the CLI validate with the same code. Errors are
// INVALID_ARGUMENT naming the parameter.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/space/search_space.h"
#include "vmle/v1/common.pb.h"

namespace vmle::space {

// The backbone of a wire backbone; INVALID_ARGUMENT for unspecified ones.
absl::StatusOr<Backbone> ToBackbone(vmle::v1::Backbone backbone);
vmle::v1::Backbone ToProtoBackbone(Backbone backbone);

vmle::v1::SearchSpace ToProto(const SearchSpace& space);
vmle::v1::ParamSpec ToProto(const ParamSpec& param);
// One wire parameter definition (its domain may be absent: the backbone's is kept).
ParamSpec FromProto(const vmle::v1::ParamSpec& param, const ParamSpec* base);

// The backbone's default space narrowed by a study's `narrowing` (may be empty).
absl::StatusOr<SearchSpace> EffectiveSpace(vmle::v1::Backbone backbone,
                                           const vmle::v1::SearchSpace& narrowing);

// A wire value and the schema's typed value (value.h) are the same thing: int_value is
// an integer, float_value a real number, categorical_value text, bool_value a bool.
Value FromProto(const vmle::v1::ParamValue& value);
vmle::v1::ParamValue ToProto(const Value& value);

// value.h's SameValue of the two wire values.
bool SameValue(const vmle::v1::ParamValue& a, const vmle::v1::ParamValue& b);

// The value for people, prompts and logs (value.h, ValueText); unset is "".
std::string ValueText(const vmle::v1::ParamValue& value);
// The wire value of `text` as a person or a language model wrote it for `param`
// (search_space.h, ParseValue).
absl::StatusOr<vmle::v1::ParamValue> TypedValue(const ParamSpec& param, std::string_view text);

// The configuration's values as typed settings, sorted by name.
Settings ToSettings(const vmle::v1::Configuration& config);

// Validates `config` against `space` (search_space.h, ValidateConfiguration) and
// returns it complete: every parameter of the space present in its parameter's type
// (ConformValue), plus the fixed settings it named outside the space, as given.
absl::StatusOr<vmle::v1::Configuration> CompleteConfiguration(const SearchSpace& space,
                                                              const vmle::v1::Configuration& config);

}  // namespace vmle::space
