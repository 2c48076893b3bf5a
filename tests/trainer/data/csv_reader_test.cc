#include "services/trainer/data/internal/csv_reader.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/trainer/data/internal/parse_util.h"
#include "tests/trainer/data/test_util.h"

namespace vmle::trainer::internal {
namespace {

using ::vmle::trainer::testing::HasError;
using ::vmle::trainer::testing::TempDir;
using Records = std::vector<std::vector<std::string>>;

struct Parsed {
  Records records;
  std::vector<int64_t> lines;
  Status status;
};

Parsed ParseAll(const std::string& text, char delimiter, bool quoting) {
  TempDir dir;
  Parsed parsed;
  StatusOr<std::unique_ptr<LineReader>> lines = LineReader::Open(dir.Write("f.csv", text), 1 << 20);
  EXPECT_TRUE(lines.ok());
  if (!lines.ok()) return parsed;
  CsvReader reader(lines->get(), delimiter, quoting);
  std::vector<std::string_view> fields;
  while (reader.Next(&fields)) {
    parsed.records.emplace_back(fields.begin(), fields.end());
    parsed.lines.push_back(reader.record_line());
  }
  parsed.status = reader.status();
  return parsed;
}

TEST(CsvRecordTest, SplitsPlainAndQuotedFields) {
  const Parsed p = ParseAll("a,b,,c\n\n\"x,1\",\"say \"\"hi\"\"\",\"\"\nend,\n", ',', true);
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  EXPECT_EQ(p.records, (Records{{"a", "b", "", "c"}, {"x,1", "say \"hi\"", ""}, {"end", ""}}));
  EXPECT_EQ(p.lines, (std::vector<int64_t>{1, 3, 4}));
}

TEST(CsvRecordTest, QuotedLineBreaksJoinPhysicalLines) {
  const Parsed p = ParseAll("\"multi\r\nline\",2\nnext,3\n", ',', true);
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  EXPECT_EQ(p.records, (Records{{"multi\nline", "2"}, {"next", "3"}}));
  EXPECT_EQ(p.lines, (std::vector<int64_t>{1, 3}));
}

TEST(CsvRecordTest, MidFieldQuotesAreLiteral) {
  const Parsed p = ParseAll("ab\"c,d\n", ',', true);
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(p.records, (Records{{"ab\"c", "d"}}));
}

TEST(CsvRecordTest, QuotingOffKeepsQuotes) {
  const Parsed p = ParseAll("\"a\tb\"\tc\n", '\t', false);
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(p.records, (Records{{"\"a", "b\"", "c"}}));
}

TEST(CsvRecordTest, UnterminatedQuoteNamesStartLine) {
  const Parsed p = ParseAll("ok,1\n\"never closed\nmore\n", ',', true);
  EXPECT_TRUE(HasError(p.status, StatusCode::kInvalidArgument, "f.csv:2: unterminated"));
}

TEST(ParseUtilTest, Timestamps) {
  int64_t t = 0;
  EXPECT_TRUE(ParseTimestamp(" 1588615855070 ", &t));
  EXPECT_EQ(t, 1588615855070);
  EXPECT_TRUE(ParseTimestamp("-5", &t));
  EXPECT_EQ(t, -5);
  EXPECT_TRUE(ParseTimestamp("+7", &t));
  EXPECT_EQ(t, 7);
  EXPECT_TRUE(ParseTimestamp("978300760.9", &t));
  EXPECT_EQ(t, 978300760);
  EXPECT_TRUE(ParseTimestamp("1.5e3", &t));
  EXPECT_EQ(t, 1500);
  for (const char* bad : {"", "x", "1x", "nan", "inf", "1e30", "9223372036854775808", "--1"}) {
    EXPECT_FALSE(ParseTimestamp(bad, &t)) << bad;
  }
}

TEST(ParseUtilTest, PositiveIds) {
  int64_t v = 0;
  EXPECT_TRUE(ParsePositiveInt64("42", &v));
  EXPECT_EQ(v, 42);
  EXPECT_TRUE(ParsePositiveInt64("9223372036854775807", &v));
  for (const char* bad : {"", "0", "-1", "+1", " 1", "1 ", "1.0", "9223372036854775808"}) {
    EXPECT_FALSE(ParsePositiveInt64(bad, &v)) << bad;
  }
}

TEST(ParseUtilTest, KeyInternerNumbersByFirstSight) {
  KeyInterner keys;
  EXPECT_EQ(keys.Intern("b"), 0);
  EXPECT_EQ(keys.Intern("a"), 1);
  EXPECT_EQ(keys.Intern("b"), 0);
  EXPECT_EQ(keys.Intern(std::string_view("a\0c", 3)), 2);
  EXPECT_EQ(keys.size(), 3);
}

}  // namespace
}  // namespace vmle::trainer::internal
