// Validates custom resources that no npm model covers against the openAPIV3Schema of their
// CustomResourceDefinition: Rook's CephBlockPool and CephClient, whose CRDs rook-crds.yaml
// holds as Rook publishes them. The API server's structural schema rules, as far as these
// schemas use them: type, properties (an unknown field is an error, as with kubectl's strict
// field validation), additionalProperties, required, items, enum, nullable, minimum, maximum,
// minLength, maxLength, pattern, anyOf, x-kubernetes-int-or-string and
// x-kubernetes-preserve-unknown-fields. Not checked: format, and the CEL rules
// (x-kubernetes-validations), which compare an update with the old object anyway.

import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

// "group/version/Kind" -> the schema of that version, from the CRDs in `file`.
export function loadCrdSchemas(file) {
  const schemas = new Map();
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    const crd = doc.toJS();
    if (crd?.kind !== "CustomResourceDefinition") continue;
    for (const version of crd.spec.versions) {
      schemas.set(`${crd.spec.group}/${version.name}/${crd.spec.names.kind}`,
                  version.schema.openAPIV3Schema);
    }
  }
  return schemas;
}

function typeOf(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (Number.isInteger(value)) return "integer";
  return typeof value;
}

function checkValue(schema, value, path, errors) {
  if (value === null) {
    if (!schema.nullable) errors.push(`${path} must not be null`);
    return;
  }
  if (schema["x-kubernetes-int-or-string"]) {
    if (!Number.isInteger(value) && typeof value !== "string") {
      errors.push(`${path} must be an integer or a string`);
    }
    return;
  }
  if (schema.anyOf && !schema.anyOf.some((s) => {
    const e = [];
    checkValue(s, value, path, e);
    return !e.length;
  })) {
    errors.push(`${path} matches none of its schema's alternatives`);
  }
  const type = typeOf(value);
  const expected = schema.type;
  if (expected && !(expected === type || (expected === "number" && type === "integer"))) {
    errors.push(`${path} must be ${expected}, not ${type}`);
    return;
  }
  if (schema.enum && !schema.enum.some((e) => e === value)) {
    errors.push(`${path} must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(", ")}`);
  }
  if (type === "string") {
    if (schema.minLength !== undefined && value.length < schema.minLength) {
      errors.push(`${path} is shorter than ${schema.minLength}`);
    }
    if (schema.maxLength !== undefined && value.length > schema.maxLength) {
      errors.push(`${path} is longer than ${schema.maxLength}`);
    }
    if (schema.pattern && !new RegExp(schema.pattern, "u").test(value)) {
      errors.push(`${path} does not match ${schema.pattern}`);
    }
  }
  if (type === "integer" || type === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) {
      errors.push(`${path} is below ${schema.minimum}`);
    }
    if (schema.maximum !== undefined && value > schema.maximum) {
      errors.push(`${path} is above ${schema.maximum}`);
    }
  }
  if (type === "array" && schema.items) {
    value.forEach((item, i) => checkValue(schema.items, item, `${path}[${i}]`, errors));
  }
  if (type === "object") {
    for (const key of schema.required || []) {
      if (value[key] === undefined) errors.push(`${path}.${key} is required`);
    }
    const properties = schema.properties || {};
    for (const [key, child] of Object.entries(value)) {
      if (properties[key]) {
        checkValue(properties[key], child, `${path}.${key}`, errors);
      } else if (typeof schema.additionalProperties === "object") {
        checkValue(schema.additionalProperties, child, `${path}.${key}`, errors);
      } else if (schema.properties && !schema["x-kubernetes-preserve-unknown-fields"] &&
                 schema.additionalProperties !== true) {
        errors.push(`${path}.${key} is not a field of this kind`);
      }
    }
  }
}

// Problems of `object` against `schema`, as "spec.replicated.size must be integer" strings.
export function validateAgainstSchema(schema, object) {
  const errors = [];
  const { metadata, ...rest } = object;
  if (typeof metadata?.name !== "string" || !metadata.name) {
    errors.push("metadata.name is required");
  }
  checkValue({ ...schema, properties: { ...schema.properties, metadata: {} } },
             { ...rest, metadata: {} }, "", errors);
  return errors.map((e) => e.replace(/^\./, ""));
}
