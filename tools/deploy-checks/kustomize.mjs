// Renders a kustomize overlay for the offline checks, without kubectl: the part of kustomize
// that deploy/'s overlays use (deploy/k8s-rbd on ../k8s), done the way kustomize does it, so
// the checks see the objects `kubectl apply -k` would send. Anything else an overlay asks for
// is reported as a problem rather than ignored. When kubectl is installed,
// k8s_manifests_test compares this rendering with `kubectl kustomize`.
//
// Supported: resources (files, and directories holding a kustomization), configMapGenerator
// with files and literals and no name hash, patches that are JSON patches (RFC 6902) chosen
// by target kind and name, namespace, labels without selectors, images. Applied in
// kustomize's order: resources, generators, patches, namespace, labels, images.

import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { parseAllDocuments, parse as parseYaml } from "yaml";

const SUPPORTED_FIELDS = new Set(["apiVersion", "kind", "namespace", "labels", "resources",
                                  "configMapGenerator", "generatorOptions", "patches",
                                  "images"]);
// Kinds kustomize leaves without a namespace (those deploy/ uses).
const CLUSTER_SCOPED = new Set(["Namespace", "ClusterIssuer", "ClusterRole",
                                "ClusterRoleBinding", "CustomResourceDefinition",
                                "PersistentVolume", "StorageClass", "PriorityClass"]);

// True when dir's kustomization needs rendering: a directory among its resources, or patches.
export function isOverlay(kustomization, dir) {
  return Boolean(kustomization.patches) ||
         (kustomization.resources || []).some((r) => isDirectory(join(dir, r)));
}

function isDirectory(path) {
  return existsSync(path) && statSync(path).isDirectory();
}

// JSON pointer (RFC 6901) to its reference tokens.
function pointerTokens(pointer) {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new Error(`path ${pointer} does not start with /`);
  return pointer.slice(1).split("/").map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
}

// Applies one RFC 6902 operation to `doc` in place; throws with the reason when it cannot.
function applyOperation(doc, op) {
  const tokens = pointerTokens(op.path);
  if (!tokens.length) throw new Error(`${op.op} of the whole object is not supported`);
  const last = tokens.pop();
  let parent = doc;
  for (const token of tokens) {
    const next = Array.isArray(parent) ? parent[Number(token)] : parent?.[token];
    if (next === undefined || next === null || typeof next !== "object") {
      throw new Error(`${op.path}: ${token} does not exist`);
    }
    parent = next;
  }
  const index = (allowEnd) => {
    if (last === "-" && allowEnd) return parent.length;
    const i = Number(last);
    if (!/^(0|[1-9]\d*)$/.test(last) || i > parent.length - (allowEnd ? 0 : 1)) {
      throw new Error(`${op.path}: index ${last} is out of range`);
    }
    return i;
  };
  const exists = Array.isArray(parent) ? /^\d+$/.test(last) && Number(last) < parent.length
                                       : Object.hasOwn(parent, last);
  switch (op.op) {
    case "add":
      if (Array.isArray(parent)) parent.splice(index(true), 0, structuredClone(op.value));
      else parent[last] = structuredClone(op.value);
      return;
    case "remove":
    case "replace":
      if (!exists) throw new Error(`${op.path} does not exist`);
      if (op.op === "replace") {
        parent[Array.isArray(parent) ? index(false) : last] = structuredClone(op.value);
      } else if (Array.isArray(parent)) {
        parent.splice(index(false), 1);
      } else {
        delete parent[last];
      }
      return;
    case "test":
      if (!exists || !deepEqual(parent[last], op.value)) {
        throw new Error(`test failed: ${op.path} is ${JSON.stringify(parent[last])}, not ` +
                        `${JSON.stringify(op.value)}`);
      }
      return;
    default:
      throw new Error(`operation ${op.op} is not supported by the offline checks`);
  }
}

function loadDocuments(file, problems) {
  const objects = [];
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length) problems.push(`${file}: ${doc.errors[0].message}`);
    const object = doc.toJS();
    if (object) objects.push({ file, object });
  }
  return objects;
}

function generateConfigMaps(kustomization, dir, path, problems) {
  const objects = [];
  for (const generator of kustomization.configMapGenerator || []) {
    const options = { ...(kustomization.generatorOptions || {}), ...(generator.options || {}) };
    if (!options.disableNameSuffixHash) {
      problems.push(`${path}: configMapGenerator ${generator.name}: the offline checks cannot ` +
                    `name a hashed ConfigMap; set options.disableNameSuffixHash`);
    }
    if (generator.behavior && generator.behavior !== "create") {
      problems.push(`${path}: configMapGenerator ${generator.name}: behavior ` +
                    `${generator.behavior} is not supported by the offline checks`);
    }
    const data = {};
    for (const entry of generator.files || []) {
      const [key, source] = entry.includes("=") ? entry.split("=") : [basename(entry), entry];
      const file = join(dir, source);
      if (!existsSync(file)) {
        problems.push(`${path}: configMapGenerator file ${entry} does not exist`);
        continue;
      }
      data[key] = readFileSync(file, "utf8");
    }
    for (const literal of generator.literals || []) {
      const at = literal.indexOf("=");
      data[literal.slice(0, at)] = literal.slice(at + 1);
    }
    const metadata = { name: generator.name };
    if (options.labels) metadata.labels = { ...options.labels };
    if (options.annotations) metadata.annotations = { ...options.annotations };
    objects.push({ file: join(dir, "kustomization.yaml"),
                   object: { apiVersion: "v1", kind: "ConfigMap", metadata, data } });
  }
  return objects;
}

function applyPatches(kustomization, dir, path, objects, problems) {
  for (const [i, patch] of (kustomization.patches || []).entries()) {
    const what = `${path}: patch ${patch.path || i}`;
    let operations;
    try {
      operations = patch.path ? parseYaml(readFileSync(join(dir, patch.path), "utf8"))
                              : parseYaml(patch.patch);
    } catch (e) {
      problems.push(`${what}: ${e.message}`);
      continue;
    }
    if (!Array.isArray(operations)) {
      problems.push(`${what}: only JSON patches (a list of operations) are supported by the ` +
                    `offline checks`);
      continue;
    }
    const target = patch.target || {};
    const unsupported = Object.keys(target).filter((k) => !["kind", "name", "namespace"]
                                                         .includes(k));
    if (unsupported.length) {
      problems.push(`${what}: target ${unsupported.join(", ")} is not supported by the ` +
                    `offline checks`);
      continue;
    }
    const matched = objects.filter(({ object }) =>
        (!target.kind || object.kind === target.kind) &&
        (!target.name || object.metadata?.name === target.name) &&
        (!target.namespace || object.metadata?.namespace === target.namespace));
    if (!matched.length) problems.push(`${what}: its target matches no object`);
    for (const entry of matched) {
      const patched = structuredClone(entry.object);
      try {
        for (const op of operations) applyOperation(patched, op);
        entry.object = patched;
        entry.file = `${entry.file} (patched by ${join(dir, patch.path || "kustomization.yaml")})`;
      } catch (e) {
        problems.push(`${what} on ${entry.object.kind} ${entry.object.metadata?.name}: ` +
                      `${e.message}`);
      }
    }
  }
}

function podTemplates(object) {
  const template = object.spec?.template ?? object.spec?.jobTemplate?.spec?.template;
  return template ? [template] : [];
}

function applyTransformers(kustomization, path, objects, problems) {
  if (kustomization.namespace) {
    for (const { object } of objects) {
      if (!CLUSTER_SCOPED.has(object.kind)) {
        object.metadata = { ...object.metadata, namespace: kustomization.namespace };
      }
    }
  }
  for (const entry of kustomization.labels || []) {
    if (entry.includeSelectors || entry.includeTemplates) {
      problems.push(`${path}: labels with includeSelectors or includeTemplates are not ` +
                    `supported by the offline checks`);
      continue;
    }
    for (const { object } of objects) {
      object.metadata = { ...object.metadata,
                          labels: { ...(object.metadata?.labels || {}), ...entry.pairs } };
    }
  }
  for (const image of kustomization.images || []) {
    for (const { object } of objects) {
      for (const template of podTemplates(object)) {
        const containers = [...(template.spec?.containers || []),
                            ...(template.spec?.initContainers || [])];
        for (const container of containers) {
          const name = container.image?.replace(/[:@].*$/, "");
          if (name !== image.name) continue;
          const tag = image.digest ? `@${image.digest}`
                                   : `:${image.newTag ?? (container.image.split(":")[1] || "")}`;
          container.image = `${image.newName || name}${tag.replace(/:$/, "")}`;
        }
      }
    }
  }
}

// Renders the kustomization in `dir`: { kustomization, objects: [{ file, object }] }.
export function renderKustomization(dir, problems) {
  const path = join(dir, "kustomization.yaml");
  if (!existsSync(path)) {
    problems.push(`${dir}: no kustomization.yaml`);
    return { kustomization: {}, objects: [] };
  }
  const kustomization = parseYaml(readFileSync(path, "utf8"));
  if (kustomization.apiVersion !== "kustomize.config.k8s.io/v1beta1" ||
      kustomization.kind !== "Kustomization") {
    problems.push(`${path}: not a kustomize.config.k8s.io/v1beta1 Kustomization`);
  }
  for (const field of Object.keys(kustomization)) {
    if (!SUPPORTED_FIELDS.has(field)) {
      problems.push(`${path}: ${field} is not supported by the offline checks`);
    }
  }
  const objects = [];
  for (const resource of kustomization.resources || []) {
    const target = join(dir, resource);
    if (!existsSync(target)) {
      problems.push(`${path}: resource ${resource} does not exist`);
    } else if (isDirectory(target)) {
      objects.push(...renderKustomization(target, problems).objects);
    } else {
      objects.push(...loadDocuments(target, problems));
    }
  }
  objects.push(...generateConfigMaps(kustomization, dir, path, problems));
  applyPatches(kustomization, dir, path, objects, problems);
  applyTransformers(kustomization, path, objects, problems);
  return { kustomization, objects };
}
