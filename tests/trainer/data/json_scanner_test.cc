#include "services/trainer/data/internal/json_scanner.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace vmle::trainer::internal {
namespace {

TEST(JsonScannerTest, ListsTopLevelMembersOnly) {
  std::vector<JsonMember> members;
  std::string error;
  ASSERT_TRUE(ScanJsonObject(
      R"( {"a": "x\"y", "b": -1.5e3, "c": {"a": "inner"}, "d": [1, {"e": "]"}], "f": null} )",
      &members, &error))
      << error;
  ASSERT_EQ(members.size(), 5u);
  EXPECT_EQ(members[0].key, "a");
  EXPECT_EQ(members[0].type, JsonType::kString);
  EXPECT_EQ(members[0].value, R"(x\"y)");
  EXPECT_EQ(members[1].type, JsonType::kNumber);
  EXPECT_EQ(members[1].value, "-1.5e3");
  EXPECT_EQ(members[2].type, JsonType::kObject);
  EXPECT_EQ(members[2].value, R"({"a": "inner"})");
  EXPECT_EQ(members[3].type, JsonType::kArray);
  EXPECT_EQ(members[4].type, JsonType::kLiteral);
  EXPECT_EQ(members[4].value, "null");
}

TEST(JsonScannerTest, AcceptsEmptyObject) {
  std::vector<JsonMember> members;
  std::string error;
  EXPECT_TRUE(ScanJsonObject("{}", &members, &error));
  EXPECT_TRUE(members.empty());
}

TEST(JsonScannerTest, ReportsWhatWasExpectedAndWhere) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "expected a JSON object starting with '{' at column 1"},
      {"{", "expected a quoted member name at column 2"},
      {"{\"a\" 1}", "expected ':' after a member name at column 6"},
      {"{\"a\": }", "expected a JSON value at column 7"},
      {"{\"a\": 1,}", "expected a quoted member name at column 9"},
      {"{\"a\": \"open}", "expected a closing '\"' for the string starting at column 7"},
      {"{\"a\": 1} {", "expected end of line after the JSON object at column 10"},
      {"{\"a\": [}", "expected ']' at column 8"},
      {"{\"a\": \"x\\", "expected a closing '\"' for the string starting at column 7"},
  };
  for (const auto& [text, message] : cases) {
    std::vector<JsonMember> members;
    std::string error;
    EXPECT_FALSE(ScanJsonObject(text, &members, &error)) << text;
    EXPECT_EQ(error, message) << text;
  }
}

TEST(JsonScannerTest, DecodesEscapes) {
  std::string out;
  ASSERT_TRUE(DecodeJsonString(R"(a\"b\\c\/d\n\t\u0041\u00e9\u20ac\ud83d\ude00)", &out));
  EXPECT_EQ(out, "a\"b\\c/d\n\tA\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  ASSERT_TRUE(DecodeJsonString(R"(\ud800x)", &out));
  EXPECT_EQ(out, "\xEF\xBF\xBDx");  // lone surrogate -> U+FFFD
  EXPECT_FALSE(DecodeJsonString(R"(\q)", &out));
  EXPECT_FALSE(DecodeJsonString(R"(\u12)", &out));
  EXPECT_FALSE(DecodeJsonString(R"(\u12g4)", &out));
  EXPECT_FALSE(DecodeJsonString("\\", &out));
}

}  // namespace
}  // namespace vmle::trainer::internal
