// A minimal JSON writer for vmle-train's output (the trainer builds without any
// JSON library so that it builds against any libtorch).
#pragma once

#include <string>
#include <string_view>

namespace vmle::trainer {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Number(double value);  // non-finite numbers are written as null
  JsonWriter& Int(int64_t value);
  JsonWriter& Bool(bool value);

  const std::string& str() const { return out_; }

 private:
  void Separate();
  std::string out_;
  bool need_comma_ = false;
};

}  // namespace vmle::trainer
