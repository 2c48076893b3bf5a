// Helpers for the dataset tests: a self-deleting temporary directory and file
// writers (plain and gzip).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include "services/trainer/util/status.h"

#ifdef VMLE_TEST_HAVE_ZLIB
#include <zlib.h>
#endif

namespace vmle::trainer::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/vmle_data_XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string Path(std::string_view name) const { return path_ + "/" + std::string(name); }

  // Writes `content` to Path(name) and returns that path.
  std::string Write(std::string_view name, std::string_view content) const {
    const std::string path = Path(name);
    std::ofstream out(path, std::ios::binary);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    EXPECT_TRUE(out.good()) << path;
    return path;
  }

#ifdef VMLE_TEST_HAVE_ZLIB
  // Writes `content` gzip-compressed to Path(name) and returns that path.
  std::string WriteGzip(std::string_view name, std::string_view content) const {
    const std::string path = Path(name);
    gzFile gz = gzopen(path.c_str(), "wb");
    EXPECT_NE(gz, nullptr) << path;
    if (gz == nullptr) return path;
    if (!content.empty()) {
      EXPECT_EQ(gzwrite(gz, content.data(), static_cast<unsigned>(content.size())),
                static_cast<int>(content.size()));
    }
    EXPECT_EQ(gzclose(gz), Z_OK);
    return path;
  }
#endif

 private:
  std::string path_;
};

// Success when `status` has `code` and its message contains `substring`.
inline ::testing::AssertionResult HasError(const Status& status, StatusCode code,
                                           std::string_view substring = "") {
  if (status.code() == code && status.message().find(substring) != std::string::npos) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "expected " << StatusCodeName(code) << " containing \""
                                       << substring << "\", got " << status.ToString();
}

}  // namespace vmle::trainer::testing
