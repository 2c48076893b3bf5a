#include "services/cli/report_files.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vmle::cli {
namespace {

constexpr double kWidth = 640, kHeight = 360, kLeft = 60, kRight = 20, kTop = 30, kBottom = 40;

bool HasValue(const vmle::v1::TrajectoryEntry& e) {
  return e.status() == vmle::v1::TRIAL_STATUS_SUCCEEDED || e.status() == vmle::v1::TRIAL_STATUS_STOPPED;
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::UnavailableError("cannot write " + path);
  return absl::OkStatus();
}

}  // namespace

std::string BestSoFarSvg(const vmle::v1::StudyReport& report) {
  const auto& t = report.trajectory();
  double lo = 1e300, hi = -1e300;
  for (const auto& e : t) {
    if (!HasValue(e)) continue;
    lo = std::min({lo, e.objective_value(), e.best_so_far()});
    hi = std::max({hi, e.objective_value(), e.best_so_far()});
  }
  if (lo > hi) lo = 0, hi = 1;
  if (hi - lo < 1e-12) hi = lo + 1e-3;
  const int n = std::max(1, t.size());
  auto x = [&](int i) { return kLeft + (kWidth - kLeft - kRight) * (n == 1 ? 0.5 : i / double(n - 1)); };
  auto y = [&](double v) { return kTop + (kHeight - kTop - kBottom) * (1 - (v - lo) / (hi - lo)); };
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text x=\"%.0f\" y=\"18\">best validation objective so far, study %s</text>\n",
      kWidth, kHeight, kLeft, report.study().id());
  absl::StrAppendFormat(&svg,
                        "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n"
                        "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n",
                        kLeft, kHeight - kBottom, kWidth - kRight, kHeight - kBottom, kLeft, kTop, kLeft,
                        kHeight - kBottom);
  absl::StrAppendFormat(&svg, "<text x=\"4\" y=\"%.1f\">%.4f</text>\n<text x=\"4\" y=\"%.1f\">%.4f</text>\n",
                        y(hi) + 4, hi, y(lo) + 4, lo);
  absl::StrAppendFormat(&svg, "<text x=\"%.0f\" y=\"%.0f\">trial</text>\n", kWidth / 2, kHeight - 8);
  std::string path;
  for (int i = 0; i < t.size(); ++i) {
    if (HasValue(t[i])) {
      absl::StrAppendFormat(&svg, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#999\"/>\n", x(i),
                            y(t[i].objective_value()));
    }
    if (t[i].best_so_far() > 0 || HasValue(t[i])) {
      absl::StrAppendFormat(&path, "%s%.1f,%.1f ", path.empty() ? "M" : "L", x(i), y(t[i].best_so_far()));
    }
    absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%d</text>\n", x(i),
                          kHeight - kBottom + 14, t[i].trial_number());
  }
  if (!path.empty()) absl::StrAppendFormat(&svg, "<path d=\"%s\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n", path);
  svg += "</svg>\n";
  return svg;
}

absl::StatusOr<std::string> WriteReportFiles(const vmle::v1::StudyReport& report, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  const std::string id = report.study().id();
  const std::string svg_name = id + "-best-so-far.svg";
  if (absl::Status s = WriteFile(dir + "/" + svg_name, BestSoFarSvg(report)); !s.ok()) return s;
  std::string md = report.markdown();
  absl::StrAppend(&md, "\n![best validation objective so far](", svg_name, ")\n");
  const std::string md_path = dir + "/" + id + ".md";
  if (absl::Status s = WriteFile(md_path, md); !s.ok()) return s;
  return md_path;
}

}  // namespace vmle::cli
