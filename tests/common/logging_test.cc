#include "common/logging/logging.h"

#include <gtest/gtest.h>

namespace vmle::log {
namespace {

TEST(LoggingTest, FieldsAreLogfmtWithQuotingAndEscapes) {
  EXPECT_EQ(FormatFields({{"study", "st-1"}, {"trial", "t-2"}}), "study=st-1 trial=t-2");
  EXPECT_EQ(FormatFields({{"error", "bad \"x\" = 1\n"}}), "error=\"bad \\\"x\\\" = 1\\n\"");
  EXPECT_EQ(FormatFields({{"empty", ""}}), "empty=\"\"");
}

TEST(LoggingTest, UnknownLevelIsRefusedWithAHint) {
  const absl::Status s = InitLogging("test", "loud");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("debug, info, warn or error"), std::string::npos);
  EXPECT_TRUE(InitLogging("test", "warn").ok());
}

}  // namespace
}  // namespace vmle::log
