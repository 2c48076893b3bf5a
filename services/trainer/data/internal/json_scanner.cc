#include "services/trainer/data/internal/json_scanner.h"

#include <cstdint>

namespace vmle::trainer::internal {
namespace {

class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  bool ScanObject(std::vector<JsonMember>* members);
  const std::string& error() const { return error_; }

 private:
  bool ScanMember(std::vector<JsonMember>* members);
  bool ScanString(std::string_view* raw);
  bool ScanValue(JsonType* type, std::string_view* raw);
  bool SkipNested();
  bool ScanNumber();
  bool ScanLiteral();
  void SkipSpace() {
    while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
  }
  bool Peek(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
  bool Fail(const std::string& expected) {
    error_ = "expected " + expected + " at column " + std::to_string(pos_ + 1);
    return false;
  }
  static bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

bool Scanner::ScanObject(std::vector<JsonMember>* members) {
  SkipSpace();
  if (!Peek('{')) return Fail("a JSON object starting with '{'");
  ++pos_;
  SkipSpace();
  if (Peek('}')) {
    ++pos_;
  } else {
    for (;;) {
      if (!ScanMember(members)) return false;
      SkipSpace();
      if (Peek('}')) {
        ++pos_;
        break;
      }
      if (!Peek(',')) return Fail("',' or '}' after an object member");
      ++pos_;
      SkipSpace();
    }
  }
  SkipSpace();
  if (pos_ != text_.size()) return Fail("end of line after the JSON object");
  return true;
}

bool Scanner::ScanMember(std::vector<JsonMember>* members) {
  JsonMember member;
  if (!Peek('"')) return Fail("a quoted member name");
  if (!ScanString(&member.key)) return false;
  SkipSpace();
  if (!Peek(':')) return Fail("':' after a member name");
  ++pos_;
  SkipSpace();
  if (!ScanValue(&member.type, &member.value)) return false;
  members->push_back(member);
  return true;
}

// At an opening quote; leaves pos_ after the closing one.
bool Scanner::ScanString(std::string_view* raw) {
  const size_t start = ++pos_;
  while (pos_ < text_.size()) {
    const char c = text_[pos_];
    if (c == '"') {
      *raw = text_.substr(start, pos_ - start);
      ++pos_;
      return true;
    }
    pos_ += c == '\\' ? 2 : 1;
  }
  pos_ = start - 1;
  return Fail("a closing '\"' for the string starting");
}

bool Scanner::ScanValue(JsonType* type, std::string_view* raw) {
  if (pos_ >= text_.size()) return Fail("a JSON value");
  const size_t start = pos_;
  const char c = text_[pos_];
  if (c == '"') {
    *type = JsonType::kString;
    return ScanString(raw);
  }
  bool ok = false;
  if (c == '{' || c == '[') {
    *type = c == '{' ? JsonType::kObject : JsonType::kArray;
    ok = SkipNested();
  } else if (c == '-' || (c >= '0' && c <= '9')) {
    *type = JsonType::kNumber;
    ok = ScanNumber();
  } else if (c == 't' || c == 'f' || c == 'n') {
    *type = JsonType::kLiteral;
    ok = ScanLiteral();
  } else {
    return Fail("a JSON value");
  }
  if (ok) *raw = text_.substr(start, pos_ - start);
  return ok;
}

// At '{' or '['; leaves pos_ after the matching closer.
bool Scanner::SkipNested() {
  std::string closers;
  do {
    if (pos_ >= text_.size()) return Fail("'" + closers.substr(closers.size() - 1) + "'");
    const char c = text_[pos_];
    if (c == '"') {
      std::string_view ignored;
      if (!ScanString(&ignored)) return false;
      continue;
    }
    if (c == '{' || c == '[') {
      closers += c == '{' ? '}' : ']';
    } else if (c == '}' || c == ']') {
      if (c != closers.back()) return Fail(std::string("'") + closers.back() + "'");
      closers.pop_back();
    }
    ++pos_;
  } while (!closers.empty());
  return true;
}

bool Scanner::ScanNumber() {
  const size_t start = pos_;
  while (pos_ < text_.size()) {
    const char c = text_[pos_];
    const bool number_char =
        (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
    if (!number_char) break;
    ++pos_;
  }
  if (pos_ == start) return Fail("a number");
  return true;
}

bool Scanner::ScanLiteral() {
  for (std::string_view literal : {"true", "false", "null"}) {
    if (text_.substr(pos_, literal.size()) == literal) {
      pos_ += literal.size();
      return true;
    }
  }
  return Fail("true, false or null");
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads 4 hex digits at raw[i]; -1 when invalid.
int32_t ReadHex4(std::string_view raw, size_t i) {
  if (i + 4 > raw.size()) return -1;
  int32_t value = 0;
  for (size_t k = i; k < i + 4; ++k) {
    const int digit = HexValue(raw[k]);
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    *out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out += static_cast<char>(0xC0 | (cp >> 6));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out += static_cast<char>(0xE0 | (cp >> 12));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *out += static_cast<char>(0xF0 | (cp >> 18));
    *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Decodes the \u escape whose hex digits start at raw[*i]; advances *i.
bool DecodeUnicodeEscape(std::string_view raw, size_t* i, std::string* out) {
  const int32_t high = ReadHex4(raw, *i);
  if (high < 0) return false;
  *i += 4;
  uint32_t cp = static_cast<uint32_t>(high);
  if (high >= 0xD800 && high <= 0xDBFF && raw.substr(*i, 2) == "\\u") {
    const int32_t low = ReadHex4(raw, *i + 2);
    if (low >= 0xDC00 && low <= 0xDFFF) {
      cp = 0x10000 + ((static_cast<uint32_t>(high) - 0xD800) << 10) +
           (static_cast<uint32_t>(low) - 0xDC00);
      *i += 6;
    }
  }
  if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
  AppendUtf8(cp, out);
  return true;
}

}  // namespace

bool ScanJsonObject(std::string_view text, std::vector<JsonMember>* members, std::string* error) {
  Scanner scanner(text);
  if (scanner.ScanObject(members)) return true;
  *error = scanner.error();
  return false;
}

bool DecodeJsonString(std::string_view raw, std::string* out) {
  out->clear();
  for (size_t i = 0; i < raw.size();) {
    const char c = raw[i++];
    if (c != '\\') {
      *out += c;
      continue;
    }
    if (i >= raw.size()) return false;
    const char e = raw[i++];
    if (e == 'u') {
      if (!DecodeUnicodeEscape(raw, &i, out)) return false;
      continue;
    }
    constexpr std::string_view kEscapes = "\"\\/bfnrt";
    constexpr std::string_view kMeanings = "\"\\/\b\f\n\r\t";
    const size_t k = kEscapes.find(e);
    if (k == std::string_view::npos) return false;
    *out += kMeanings[k];
  }
  return true;
}

}  // namespace vmle::trainer::internal
