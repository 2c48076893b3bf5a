// A parameter's value, typed as its parameter is: an integer, a real number, a text (a
// categorical parameter's choice, or a text setting such as device) or a bool. Values
// keep their type from the wire (space_proto.h) through validation (search_space.h)
// into the training configuration (train_config.h); text is parsed only where a
// person or a language model writes it (ParseValue, ParseSetting), or where a record
// stored before values were typed holds such text (the agent's TypeStoredValues), and
// printed for people (ValueText).
//
// Thread-safety: a value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace vmle::space {

class Value {
 public:
  // Unset.
  Value() = default;
  static Value Int(int64_t v);
  static Value Float(double v);
  static Value Text(std::string v);
  static Value Bool(bool v);

  bool is_set() const { return !std::holds_alternative<std::monostate>(v_); }
  // The value when it has that type, else nullptr.
  const int64_t* int_value() const { return std::get_if<int64_t>(&v_); }
  const double* float_value() const { return std::get_if<double>(&v_); }
  const std::string* text_value() const { return std::get_if<std::string>(&v_); }
  const bool* bool_value() const { return std::get_if<bool>(&v_); }
  // An integer or a real number as a double; nullopt for the other types.
  std::optional<double> number() const;
  // An integer, or a real number that is a whole number within ±9e15 (where doubles
  // still hold every integer), as an integer; nullopt otherwise.
  std::optional<int64_t> integer() const;

  // Same type and same value (Int(1) is not Float(1)).
  friend bool operator==(const Value& a, const Value& b) { return a.v_ == b.v_; }
  friend bool operator!=(const Value& a, const Value& b) { return !(a == b); }

 private:
  std::variant<std::monostate, int64_t, double, std::string, bool> v_;
};

// Equal as values: numbers by their numeric value (Int(1) and Float(1) are the same
// value), the other types by type and value.
bool SameValue(const Value& a, const Value& b);

// Named values in order: a configuration's settings.
using Settings = std::vector<std::pair<std::string, Value>>;

// The value for people, prompts and logs: integers in decimal, real numbers in their
// shortest round-trip form, bools as true/false, text as is; unset is "".
std::string ValueText(const Value& value);

// The value with its type, for error messages: `the integer 3`, `the number 0.5`,
// `the text "abc"` (long text cut, common/status/message.h), `the bool true`,
// `no value`.
std::string DescribeValue(const Value& value);

}  // namespace vmle::space
