#ifndef BLOCKSTORE_TOOLS_BENCH_JSON_VALUE_H_
#define BLOCKSTORE_TOOLS_BENCH_JSON_VALUE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace blockstore {
namespace bench {

// A parsed JSON document: just enough of RFC 8259 to read fio's --output-format=json, without
// a new dependency. Numbers are doubles (fio's byte and nanosecond counts fit in 53 bits);
// duplicate object keys keep the last value. Lookups on a missing key or the wrong type return
// a shared null value, so a chain such as v["jobs"][0]["write"]["bw_bytes"] never throws or
// crashes; the caller checks the leaf.
//
// Immutable after parsing; safe to read from any thread.
class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  JsonValue() = default;

  // Parses exactly one JSON value; only whitespace may follow it. InvalidArgument names the
  // byte offset of the first error. Nesting deeper than 256 levels is refused.
  static absl::StatusOr<JsonValue> Parse(absl::string_view text);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_object() const { return type_ == Type::kObject; }
  bool is_array() const { return type_ == Type::kArray; }

  // The value, or `fallback` when this is not a number / string / bool.
  double AsNumber(double fallback = 0) const { return is_number() ? number_ : fallback; }
  const std::string& AsString() const;
  bool AsBool(bool fallback = false) const { return type_ == Type::kBool ? bool_ : fallback; }

  // Object member or array element; the shared null value when absent.
  const JsonValue& operator[](absl::string_view key) const;
  const JsonValue& operator[](size_t index) const;
  bool Has(absl::string_view key) const;
  // Elements of an array, members of an object; 0 otherwise.
  size_t size() const;
  // Member names of an object, in document order (empty otherwise).
  const std::vector<std::string>& keys() const { return keys_; }

 private:
  friend class JsonParser;

  // Adds or replaces (a duplicate key keeps the last value) a member of an object.
  void SetMember(std::string key, JsonValue value);

  Type type_ = Type::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  // Array elements, or object member values parallel to keys_ (vectors, because the standard
  // allows an incomplete element type only there). Objects are small: lookups are linear.
  std::vector<JsonValue> values_;
  std::vector<std::string> keys_;
};

}  // namespace bench
}  // namespace blockstore

#endif  // BLOCKSTORE_TOOLS_BENCH_JSON_VALUE_H_
