#include "services/trainer/data/readers.h"

#include <cctype>
#include <string>

#include "services/trainer/data/internal/format_readers.h"
#include "services/trainer/data/preprocess.h"

namespace vmle::trainer {
namespace {

struct FormatName {
  const char* name;
  DatasetFormat format;
};

// The first name of each format is its canonical one.
constexpr FormatName kFormatNames[] = {
    {"sequential", DatasetFormat::kSequential},
    {"seq", DatasetFormat::kSequential},
    {"amazon2014", DatasetFormat::kAmazon2014Json},
    {"amazon-json", DatasetFormat::kAmazon2014Json},
    {"amazon2023", DatasetFormat::kAmazon2023Csv},
    {"amazon-csv", DatasetFormat::kAmazon2023Csv},
    {"recbole", DatasetFormat::kRecBoleInter},
    {"inter", DatasetFormat::kRecBoleInter},
    {"movielens", DatasetFormat::kMovieLensDat},
    {"ml", DatasetFormat::kMovieLensDat},
    {"csv", DatasetFormat::kCsv},
};

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

StatusOr<InteractionLog> ReadLog(const std::string& path, DatasetFormat format,
                                 const ReaderOptions& options) {
  switch (format) {
    case DatasetFormat::kSequential:
      return internal::ReadSequentialLog(path, options);
    case DatasetFormat::kAmazon2014Json:
      return internal::ReadAmazonJsonLog(path, options);
    case DatasetFormat::kAmazon2023Csv:
    case DatasetFormat::kRecBoleInter:
    case DatasetFormat::kCsv:
      return internal::ReadDelimitedLog(path, format, options);
    case DatasetFormat::kMovieLensDat:
      return internal::ReadMovieLensLog(path, options);
  }
  return InvalidArgumentError("unknown dataset format " + std::to_string(static_cast<int>(format)));
}

}  // namespace

StatusOr<DatasetFormat> ParseDatasetFormat(std::string_view name) {
  const std::string lower = Lower(name);
  for (const FormatName& entry : kFormatNames) {
    if (lower == entry.name) return entry.format;
  }
  std::string accepted;
  for (const FormatName& entry : kFormatNames) {
    accepted += accepted.empty() ? "" : ", ";
    accepted += entry.name;
  }
  return InvalidArgumentError("unknown dataset format \"" + std::string(name) +
                              "\"; expected one of " + accepted);
}

const char* DatasetFormatName(DatasetFormat format) {
  for (const FormatName& entry : kFormatNames) {
    if (entry.format == format) return entry.name;
  }
  return "unknown";
}

StatusOr<Dataset> ReadDataset(const std::string& path, DatasetFormat format,
                              const ReaderOptions& options) {
  PreprocessOptions preprocess;
  preprocess.k_core = options.k_core;
  preprocess.min_length = options.min_length;
  preprocess.max_length = options.max_length;
  TRAINER_RETURN_IF_ERROR(ValidatePreprocessOptions(preprocess));
  if (options.max_line_bytes < 1) {
    return InvalidArgumentError("max_line_bytes must be >= 1");
  }
  TRAINER_ASSIGN_OR_RETURN(InteractionLog log, ReadLog(path, format, options));
  return Preprocess(log, preprocess, path);
}

}  // namespace vmle::trainer
