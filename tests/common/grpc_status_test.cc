#include "common/status/grpc_status.h"

#include <gtest/gtest.h>

#include <string>

#include "common/status/message.h"

namespace vmle {
namespace {

TEST(GrpcStatusTest, EveryCanonicalCodeAndMessageRoundTrips) {
  for (int code = 1; code <= 16; ++code) {
    const absl::Status original(static_cast<absl::StatusCode>(code),
                                "field 'budget.max_trials': must be > 0 \xc3\xa9");
    const grpc::Status wire = ToGrpcStatus(original);
    EXPECT_EQ(static_cast<int>(wire.error_code()), code);
    EXPECT_EQ(wire.error_message(), original.message());
    EXPECT_EQ(FromGrpcStatus(wire), original);
  }
}

TEST(GrpcStatusTest, GrpcToAbslKeepsCodeAndMessage) {
  const grpc::Status wire(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many studies");
  const absl::Status status = FromGrpcStatus(wire);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "too many studies");
  const grpc::Status back = ToGrpcStatus(status);
  EXPECT_EQ(back.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(back.error_message(), "too many studies");
}

TEST(GrpcStatusTest, OkStaysOkWithoutMessage) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(GrpcStatusTest, NonCanonicalCodeBecomesUnknownKeepingMessage) {
  const absl::Status odd(static_cast<absl::StatusCode>(42), "strange");
  const grpc::Status wire = ToGrpcStatus(odd);
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(wire.error_message(), "strange");
}

TEST(GrpcStatusTest, AnOversizedMessageIsCutOnTheWire) {
  const std::string huge(70 * 1024, 'x');
  const grpc::Status wire = ToGrpcStatus(absl::InvalidArgumentError("spec.device: got \"" + huge + "\""));
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_LT(wire.error_message().size(), 1100u);
  EXPECT_EQ(wire.error_message().rfind("spec.device: got \"xxx", 0), 0u);
  EXPECT_NE(wire.error_message().find("bytes)"), std::string::npos);
}

TEST(TruncateForMessageTest, KeepsShortValuesAndCutsLongOnesOnACharacterBoundary) {
  EXPECT_EQ(TruncateForMessage("cuda:0"), "cuda:0");
  // 150 two-byte characters: a cut at 201 bytes would split one.
  std::string accents;
  for (int i = 0; i < 150; ++i) accents += "\xc3\xa9";
  const std::string cut = TruncateForMessage(accents, 201);
  EXPECT_EQ(cut, accents.substr(0, 200) + "... (300 bytes)");
}

}  // namespace
}  // namespace vmle
