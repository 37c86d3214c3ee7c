#include "tools/bench/json_value.h"

#include "gtest/gtest.h"

namespace blockstore {
namespace bench {
namespace {

TEST(JsonValueTest, ReadsNestedObjectsArraysAndNumbers) {
  absl::StatusOr<JsonValue> doc = JsonValue::Parse(
      R"({"jobs": [{"write": {"bw_bytes": 1048576, "iops": 256.5, "lat": -1.5e3}}],
          "ok": true, "none": null})");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ((*doc)["jobs"].size(), 1u);
  EXPECT_DOUBLE_EQ((*doc)["jobs"][0]["write"]["bw_bytes"].AsNumber(), 1048576);
  EXPECT_DOUBLE_EQ((*doc)["jobs"][0]["write"]["iops"].AsNumber(), 256.5);
  EXPECT_DOUBLE_EQ((*doc)["jobs"][0]["write"]["lat"].AsNumber(), -1500);
  EXPECT_TRUE((*doc)["ok"].AsBool());
  EXPECT_TRUE((*doc)["none"].is_null());
  EXPECT_TRUE(doc->Has("none"));
  EXPECT_FALSE(doc->Has("missing"));
}

TEST(JsonValueTest, MissingMembersAndWrongTypesReadAsNull) {
  absl::StatusOr<JsonValue> doc = JsonValue::Parse(R"({"a": [1, 2], "s": "text"})");
  ASSERT_TRUE(doc.ok());
  EXPECT_TRUE((*doc)["b"]["c"][3].is_null());
  EXPECT_TRUE((*doc)["a"][7].is_null());
  EXPECT_TRUE((*doc)["a"]["key"].is_null());
  EXPECT_DOUBLE_EQ((*doc)["s"].AsNumber(-1), -1);
  EXPECT_EQ((*doc)["a"].AsString(), "");
}

TEST(JsonValueTest, DecodesStringEscapes) {
  absl::StatusOr<JsonValue> doc =
      JsonValue::Parse(R"(["a\"b\\c\/d\n\t", "\u00e9\u20ac", "\ud83d\ude00", "\ud800x"])");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ((*doc)[0].AsString(), "a\"b\\c/d\n\t");
  EXPECT_EQ((*doc)[1].AsString(), "\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ((*doc)[2].AsString(), "\xF0\x9F\x98\x80");
  EXPECT_EQ((*doc)[3].AsString(), "\xEF\xBF\xBDx");  // a lone surrogate becomes U+FFFD
}

TEST(JsonValueTest, DuplicateKeyKeepsTheLastValueAndKeysKeepOrder) {
  absl::StatusOr<JsonValue> doc = JsonValue::Parse(R"({"b": 1, "a": 2, "b": 3})");
  ASSERT_TRUE(doc.ok());
  EXPECT_DOUBLE_EQ((*doc)["b"].AsNumber(), 3);
  ASSERT_EQ(doc->keys().size(), 2u);
  EXPECT_EQ(doc->keys()[0], "b");
  EXPECT_EQ(doc->keys()[1], "a");
}

TEST(JsonValueTest, RefusesMalformedInputWithItsOffset) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "01x", "1.", "-", "\"abc", "[1] 2",
                          "nul", "{\"a\":1,}", "\"\\q\"", "\"tab\tin string\""}) {
    absl::StatusOr<JsonValue> doc = JsonValue::Parse(bad);
    EXPECT_FALSE(doc.ok()) << bad;
    if (!doc.ok()) {
      EXPECT_NE(doc.status().message().find("at byte"), absl::string_view::npos);
    }
  }
}

TEST(JsonValueTest, RefusesExcessiveNesting) {
  EXPECT_FALSE(JsonValue::Parse(std::string(300, '[') + std::string(300, ']')).ok());
  EXPECT_TRUE(JsonValue::Parse(std::string(200, '[') + std::string(200, ']')).ok());
}

}  // namespace
}  // namespace bench
}  // namespace blockstore
