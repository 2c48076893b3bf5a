#include "services/memory/store/internal/validation.h"

#include <cmath>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"
#include "google/protobuf/descriptor.h"

namespace vmle::memory::internal {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

std::string Path(absl::string_view field, absl::string_view child) {
  return absl::StrCat(field, ".", child);
}

std::string Index(absl::string_view field, int i) { return absl::StrCat(field, "[", i, "]"); }

bool IdChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' ||
         c == '-';
}

// Serialized bytes of one field of `m`, to name the largest field of an oversized record.
size_t FieldBytes(const Message& m, const FieldDescriptor* f) {
  const auto* r = m.GetReflection();
  if (!f->is_repeated()) {
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
      return r->GetMessage(m, f).ByteSizeLong();
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) return r->GetString(m, f).size();
    return 8;
  }
  size_t bytes = 0;
  const int n = r->FieldSize(m, f);
  for (int i = 0; i < n; ++i) {
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      bytes += r->GetRepeatedMessage(m, f, i).ByteSizeLong();
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      bytes += r->GetRepeatedString(m, f, i).size();
    } else {
      bytes += 8;
    }
  }
  return bytes;
}

absl::Status CheckFraction(absl::string_view field, double value) {
  if (!(value >= 0.0 && value <= 1.0)) {
    return Invalid(field, absl::StrCat(value, " is outside [0, 1]"));
  }
  return absl::OkStatus();
}

absl::Status CheckNonNegativeFinite(absl::string_view field, double value) {
  if (!std::isfinite(value) || value < 0.0) {
    return Invalid(field, absl::StrCat(value, " must be finite and >= 0"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRule(absl::string_view field, const v1::CognitionRule& rule) {
  if (rule.knob().empty()) return Invalid(Path(field, "knob"), "must be non-empty");
  if (!std::isfinite(rule.effect())) return Invalid(Path(field, "effect"), "must be finite");
  if (rule.evidence_trials() < 0) return Invalid(Path(field, "evidence_trials"), "must be >= 0");
  if (rule.evidence_datasets() < 0) {
    return Invalid(Path(field, "evidence_datasets"), "must be >= 0");
  }
  return CheckFraction(Path(field, "confidence"), rule.confidence());
}

}  // namespace

absl::Status ValidateId(absl::string_view field, absl::string_view id) {
  if (id.empty()) return Invalid(field, "must be non-empty");
  if (id.size() > kMaxIdBytes) {
    return Invalid(field, absl::StrCat(id.size(), " bytes exceed the limit of ", kMaxIdBytes));
  }
  for (char c : id) {
    if (!IdChar(c)) {
      return Invalid(field, absl::StrCat("'", absl::CHexEscape(id),
                                         "' has a character outside [A-Za-z0-9._:-]"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSize(absl::string_view field, const Message& record, size_t max_bytes) {
  const size_t bytes = record.ByteSizeLong();
  if (bytes <= max_bytes) return absl::OkStatus();
  std::vector<const FieldDescriptor*> fields;
  record.GetReflection()->ListFields(record, &fields);
  const FieldDescriptor* largest = nullptr;
  size_t largest_bytes = 0;
  for (const FieldDescriptor* f : fields) {
    const size_t b = FieldBytes(record, f);
    if (largest == nullptr || b > largest_bytes) {
      largest = f;
      largest_bytes = b;
    }
  }
  const std::string name = largest != nullptr ? Path(field, largest->name()) : std::string(field);
  return Invalid(name,
                 absl::StrCat("the record is ", bytes, " bytes, over the limit of ", max_bytes,
                              " (this field holds ", largest_bytes, "); store less per record"));
}

absl::Status ValidateStudy(absl::string_view field, const v1::Study& study,
                           const RecordLimits& limits) {
  RETURN_IF_ERROR(ValidateId(Path(field, "id"), study.id()));
  return CheckSize(field, study, limits.max_record_bytes);
}

absl::Status ValidateTrial(absl::string_view field, const v1::Trial& trial,
                           const RecordLimits& limits) {
  RETURN_IF_ERROR(ValidateId(Path(field, "id"), trial.id()));
  RETURN_IF_ERROR(ValidateId(Path(field, "study_id"), trial.study_id()));
  if (trial.number() <= 0) {
    return Invalid(Path(field, "number"), absl::StrCat(trial.number(), " must be positive"));
  }
  return CheckSize(field, trial, limits.max_record_bytes);
}

absl::Status ValidateEvents(absl::string_view field,
                            const google::protobuf::RepeatedPtrField<v1::StudyEvent>& events,
                            absl::string_view study_id, const RecordLimits& limits) {
  if (events.size() > limits.max_events_per_write) {
    return Invalid(field, absl::StrCat(events.size(), " events exceed the limit of ",
                                       limits.max_events_per_write, " per write"));
  }
  for (int i = 0; i < events.size(); ++i) {
    const v1::StudyEvent& e = events[i];
    const std::string at = Index(field, i);
    RETURN_IF_ERROR(ValidateId(Path(at, "study_id"), e.study_id()));
    const absl::string_view expected = study_id.empty() ? events[0].study_id() : study_id;
    if (e.study_id() != expected) {
      return Invalid(Path(at, "study_id"),
                     absl::StrCat("'", e.study_id(), "' differs from '", expected,
                                  "': one write holds events of one study"));
    }
    if (e.sequence() <= 0) {
      return Invalid(Path(at, "sequence"), absl::StrCat(e.sequence(), " must be positive"));
    }
    if (i > 0 && e.sequence() <= events[i - 1].sequence()) {
      return Invalid(Path(at, "sequence"),
                     absl::StrCat(e.sequence(), " does not increase over ", Index(field, i - 1),
                                  ".sequence ", events[i - 1].sequence()));
    }
    RETURN_IF_ERROR(CheckSize(at, e, limits.max_record_bytes));
  }
  return absl::OkStatus();
}

absl::Status ValidateReflection(absl::string_view field, const v1::Reflection& reflection,
                                const RecordLimits& limits) {
  RETURN_IF_ERROR(ValidateId(Path(field, "study_id"), reflection.study_id()));
  RETURN_IF_ERROR(ValidateId(Path(field, "trial_id"), reflection.trial_id()));
  if (reflection.trial_number() < 0) {
    return Invalid(Path(field, "trial_number"), "must be >= 0 (0: take the trial's)");
  }
  if (!std::isfinite(reflection.relative_gain())) {
    return Invalid(Path(field, "relative_gain"), "must be finite");
  }
  return CheckSize(field, reflection, limits.max_record_bytes);
}

absl::Status ValidateInsights(absl::string_view field, const v1::WorkingInsights& insights,
                              const RecordLimits& limits) {
  RETURN_IF_ERROR(ValidateId(Path(field, "study_id"), insights.study_id()));
  const std::string list = Path(field, "insights");
  if (insights.insights_size() > limits.max_insights) {
    return Invalid(list, absl::StrCat(insights.insights_size(), " entries exceed the limit of ",
                                      limits.max_insights,
                                      " (working insights are bounded; consolidate them)"));
  }
  for (int i = 0; i < insights.insights_size(); ++i) {
    const v1::Insight& insight = insights.insights(i);
    const std::string at = Index(list, i);
    if (insight.text().empty()) return Invalid(Path(at, "text"), "must be non-empty");
    if (insight.support() < 0) return Invalid(Path(at, "support"), "must be >= 0");
    if (insight.contradict() < 0) return Invalid(Path(at, "contradict"), "must be >= 0");
    RETURN_IF_ERROR(CheckFraction(Path(at, "confidence"), insight.confidence()));
  }
  return CheckSize(field, insights, limits.max_record_bytes);
}

absl::Status ValidateSummary(absl::string_view field, const v1::CognitionSummary& summary,
                             const RecordLimits& limits) {
  if (!summary.id().empty()) {
    RETURN_IF_ERROR(ValidateId(Path(field, "id"), summary.id()));
  }
  if (summary.backbone() == v1::BACKBONE_UNSPECIFIED) {
    return Invalid(Path(field, "backbone"), "must be set (BACKBONE_SASREC or BACKBONE_HSTU)");
  }
  if (!summary.has_dataset_profile()) {
    return Invalid(Path(field, "dataset_profile"), "must be set: it is the retrieval key");
  }
  RETURN_IF_ERROR(ValidateProfile(Path(field, "dataset_profile"), summary.dataset_profile()));
  for (int i = 0; i < summary.rules_size(); ++i) {
    RETURN_IF_ERROR(ValidateRule(Index(Path(field, "rules"), i), summary.rules(i)));
  }
  if (!std::isfinite(summary.best_value())) {
    return Invalid(Path(field, "best_value"), "must be finite");
  }
  return CheckSize(field, summary, limits.max_record_bytes);
}

absl::Status ValidateProfile(absl::string_view field, const v1::DatasetProfile& p) {
  if (p.num_users() <= 0) return Invalid(Path(field, "num_users"), "must be positive");
  if (p.num_items() <= 0) return Invalid(Path(field, "num_items"), "must be positive");
  if (p.num_interactions() <= 0) {
    return Invalid(Path(field, "num_interactions"), "must be positive");
  }
  if (p.max_length() < 0) return Invalid(Path(field, "max_length"), "must be >= 0");
  RETURN_IF_ERROR(CheckNonNegativeFinite(Path(field, "mean_length"), p.mean_length()));
  RETURN_IF_ERROR(CheckNonNegativeFinite(Path(field, "median_length"), p.median_length()));
  RETURN_IF_ERROR(CheckFraction(Path(field, "density"), p.density()));
  RETURN_IF_ERROR(CheckFraction(Path(field, "popularity_gini"), p.popularity_gini()));
  return CheckFraction(Path(field, "top1pct_share"), p.top1pct_share());
}

}  // namespace vmle::memory::internal
