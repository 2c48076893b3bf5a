// A study report as files: Markdown with the best-so-far curve as an SVG image next
// to it (no plotting library needed; any browser or Markdown viewer shows it).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "vmle/v1/study_service.pb.h"

namespace vmle::cli {

// An SVG line chart of the best validation objective so far against trial number,
// with each trial's own value as a dot.
std::string BestSoFarSvg(const vmle::v1::StudyReport& report);

// Writes <dir>/<study id>.md and <dir>/<study id>-best-so-far.svg (the directory is
// created); returns the Markdown path.
absl::StatusOr<std::string> WriteReportFiles(const vmle::v1::StudyReport& report, const std::string& dir);

}  // namespace vmle::cli
