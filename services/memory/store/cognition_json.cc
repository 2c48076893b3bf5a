#include "services/memory/store/cognition_json.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/type_resolver.h"
#include "google/protobuf/util/type_resolver_util.h"

namespace vmle::memory {

absl::StatusOr<std::string> CognitionToJson(const std::vector<v1::CognitionSummary>& summaries) {
  v1::CognitionExport document;
  document.set_format(std::string(kCognitionFormat));
  for (const v1::CognitionSummary& s : summaries) *document.add_summaries() = s;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  // Printed from deterministic binary, so that map entries (configurations) come in
  // key order and the same summaries always give the same document.
  std::string binary;
  {
    google::protobuf::io::StringOutputStream stream(&binary);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    document.SerializeToCodedStream(&coded);
  }
  static constexpr char kUrlPrefix[] = "type.googleapis.com";
  const std::unique_ptr<google::protobuf::util::TypeResolver> resolver(
      google::protobuf::util::NewTypeResolverForDescriptorPool(
          kUrlPrefix, google::protobuf::DescriptorPool::generated_pool()));
  std::string json;
  const auto status = google::protobuf::util::BinaryToJsonString(
      resolver.get(), absl::StrCat(kUrlPrefix, "/", document.GetDescriptor()->full_name()), binary,
      &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("printing cognition JSON: ", status.ToString()));
  }
  return json;
}

absl::StatusOr<std::vector<v1::CognitionSummary>> CognitionFromJson(absl::string_view json) {
  v1::CognitionExport document;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &document, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("json: not a cognition document (",
                                                   status.ToString(), "); expected {\"format\": \"",
                                                   kCognitionFormat, "\", \"summaries\": [...]}"));
  }
  if (document.format() != kCognitionFormat) {
    return absl::InvalidArgumentError(
        absl::StrCat("json.format: '", document.format(), "' is not '", kCognitionFormat, "'"));
  }
  std::vector<v1::CognitionSummary> summaries;
  summaries.reserve(document.summaries_size());
  for (v1::CognitionSummary& s : *document.mutable_summaries()) summaries.push_back(std::move(s));
  return summaries;
}

}  // namespace vmle::memory
