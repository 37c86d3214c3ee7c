#include "server/service/raw_message.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/unknown_field_set.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/proto_buffer_writer.h"

namespace blockstore {
namespace {

// The path of the first string field of `descriptor` in the wire bytes `fields` whose value is
// not UTF-8, or "" if there is none. The unknown-field parse checks no UTF-8, so it reads what
// the typed parse refused.
std::string FirstBadString(const google::protobuf::Descriptor& descriptor,
                           const google::protobuf::UnknownFieldSet& fields,
                           const std::string& prefix) {
  std::vector<int> seen(descriptor.field_count(), 0);
  for (int i = 0; i < fields.field_count(); ++i) {
    const google::protobuf::UnknownField& wire = fields.field(i);
    if (wire.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) continue;
    const google::protobuf::FieldDescriptor* field = descriptor.FindFieldByNumber(wire.number());
    if (field == nullptr) continue;
    const int index = seen[field->index()]++;
    const std::string name = field->is_repeated()
                                 ? absl::StrCat(prefix, field->name(), "[", index, "]")
                                 : absl::StrCat(prefix, field->name());
    if (field->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
      if (!google::protobuf::internal::IsStructurallyValidUTF8(wire.length_delimited())) {
        return name;
      }
    } else if (field->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
      google::protobuf::UnknownFieldSet nested;
      if (nested.ParseFromString(wire.length_delimited())) {
        std::string bad = FirstBadString(*field->message_type(), nested, name + ".");
        if (!bad.empty()) return bad;
      }
    }
  }
  return "";
}

}  // namespace

absl::Status ParseRawRequest(grpc::ByteBuffer* raw, google::protobuf::Message* message) {
  // A copy of the slice references (no bytes), kept for the diagnosis: the parse consumes `raw`.
  grpc::ByteBuffer kept(*raw);
  const grpc::Status parsed =
      grpc::GenericDeserialize<grpc::ProtoBufferReader, google::protobuf::Message>(raw, message);
  if (parsed.ok()) return absl::OkStatus();
  // The slow path, only for a refused message: find out why.
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (kept.Dump(&slices).ok()) {
    for (const grpc::Slice& slice : slices) {
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  google::protobuf::UnknownFieldSet fields;
  if (fields.ParseFromString(bytes)) {
    const std::string bad = FirstBadString(*message->GetDescriptor(), fields, "");
    if (!bad.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          bad, ": not valid UTF-8 (a volume name is ASCII letters, digits, '.', '_' and '-')"));
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "the request is not a valid ", message->GetDescriptor()->full_name(), " message"));
}

absl::Status ParseRawRequest(const grpc::ByteBuffer& raw, google::protobuf::Message* message) {
  grpc::ByteBuffer consumed(raw);  // slice references; the parse consumes them
  return ParseRawRequest(&consumed, message);
}

absl::Status SerializeRawResponse(const google::protobuf::Message& message, grpc::ByteBuffer* raw) {
  raw->Clear();  // the writer fills an empty buffer only (a sent one may still hold slices)
  bool own_buffer = false;
  const grpc::Status serialized =
      grpc::GenericSerialize<grpc::ProtoBufferWriter, google::protobuf::Message>(message, raw,
                                                                                 &own_buffer);
  if (!serialized.ok()) {
    return absl::InternalError(absl::StrCat("cannot serialize a ",
                                            message.GetDescriptor()->full_name(), ": ",
                                            serialized.error_message()));
  }
  return absl::OkStatus();
}

}  // namespace blockstore
