#include "common/space/value.h"

#include <charconv>
#include <cmath>

#include "common/status/message.h"

namespace vmle::space {

Value Value::Int(int64_t v) {
  Value out;
  out.v_ = v;
  return out;
}

Value Value::Float(double v) {
  Value out;
  out.v_ = v;
  return out;
}

Value Value::Text(std::string v) {
  Value out;
  out.v_ = std::move(v);
  return out;
}

Value Value::Bool(bool v) {
  Value out;
  out.v_ = v;
  return out;
}

std::optional<double> Value::number() const {
  if (const int64_t* i = int_value()) return static_cast<double>(*i);
  if (const double* d = float_value()) return *d;
  return std::nullopt;
}

std::optional<int64_t> Value::integer() const {
  if (const int64_t* i = int_value()) return *i;
  if (const double* d = float_value(); d != nullptr && std::isfinite(*d) && std::floor(*d) == *d &&
                                       std::fabs(*d) < 9.0e15) {
    return static_cast<int64_t>(*d);
  }
  return std::nullopt;
}

bool SameValue(const Value& a, const Value& b) {
  const std::optional<double> x = a.number();
  const std::optional<double> y = b.number();
  if (x.has_value() && y.has_value()) return *x == *y;
  return a == b;
}

std::string ValueText(const Value& value) {
  if (const int64_t* i = value.int_value()) return std::to_string(*i);
  if (const double* d = value.float_value()) {
    char buf[64];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), *d);
    return ec == std::errc() ? std::string(buf, end) : std::to_string(*d);
  }
  if (const std::string* t = value.text_value()) return *t;
  if (const bool* b = value.bool_value()) return *b ? "true" : "false";
  return "";
}

std::string DescribeValue(const Value& value) {
  if (value.int_value() != nullptr) return "the integer " + ValueText(value);
  if (value.float_value() != nullptr) return "the number " + ValueText(value);
  if (const std::string* t = value.text_value()) return "the text \"" + TruncateForMessage(*t) + "\"";
  if (value.bool_value() != nullptr) return "the bool " + ValueText(value);
  return "no value";
}

}  // namespace vmle::space
