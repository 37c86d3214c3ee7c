// Offline checks of the Kubernetes manifests in deploy/, without a cluster.
//
//   node validate-k8s.mjs check [--rules ALERTS_YAML] KUSTOMIZATION_DIR...
//       Every resource a kustomization.yaml lists is validated against the Kubernetes schemas
//       of npm's kubernetes-models (ServiceMonitor and PrometheusRule against
//       @kubernetes-models/prometheus-operator, cert-manager's kinds against
//       @kubernetes-models/cert-manager), and the objects are checked against each other and
//       against blockstore's operating rules (see crossCheck and securityCheck). The
//       kustomizations are checked together: a ClusterIssuer or an access policy of one serves
//       the others. With --rules, every PrometheusRule's spec must equal that Prometheus rule
//       file. Exits 1 listing every problem.
//   node validate-k8s.mjs flags KUSTOMIZATION_DIR
//       Prints every flag the StatefulSet passes to blockstored, one --name=value a line: its
//       container args and the lines of the --flagfile it mounts from a ConfigMap.
//   node validate-k8s.mjs mounts KUSTOMIZATION_DIR ROOT
//       Lays out under ROOT what blockstored's container sees at its ConfigMap and Secret
//       mounts: writes every ConfigMap key to ROOT/MOUNT_PATH/KEY, and prints one line per
//       Secret mount, `secret NAME ROOT/MOUNT_PATH`, for the caller to fill (a test makes
//       certificates there).
//   node validate-k8s.mjs certificate KUSTOMIZATION_DIR NAME
//       Prints the names a Certificate asks for, `dns NAME` and `uri URI` lines.
//   node validate-k8s.mjs compare KUSTOMIZATION_DIR RENDERED_YAML
//       Renders the kustomization as the checks render an overlay (kustomize.mjs) and compares
//       the objects with RENDERED_YAML, the output of `kubectl kustomize` for it; prints the
//       differences.
//
// An overlay (a kustomization over another directory, with patches: deploy/k8s-rbd) is
// rendered first (kustomize.mjs); the checks then see the objects kustomize would make. Kinds
// no npm package models (Rook's CephBlockPool and CephClient) are checked against their CRD's
// schema in rook-crds.yaml (crd-schema.mjs). StatefulSets on --store=rbd follow k8s-rbd.mjs's
// rules instead of the data directory's.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { loadCrdSchemas, validateAgainstSchema } from "./crd-schema.mjs";
import { rbdGlobalCheck, rbdPodCheck } from "./k8s-rbd.mjs";
import { isOverlay, renderKustomization } from "./kustomize.mjs";
import { globalSecurityCheck, mountedFile, securityCheck, selects, volumeSource }
  from "./k8s-security.mjs";

// apiVersion/kind -> module exporting the model class named `kind`.
const MODELS = {
  "v1/Namespace": "kubernetes-models/v1/Namespace",
  "v1/ConfigMap": "kubernetes-models/v1/ConfigMap",
  "v1/Secret": "kubernetes-models/v1/Secret",
  "v1/Service": "kubernetes-models/v1/Service",
  "apps/v1/StatefulSet": "kubernetes-models/apps/v1/StatefulSet",
  "apps/v1/DaemonSet": "kubernetes-models/apps/v1/DaemonSet",
  "policy/v1/PodDisruptionBudget": "kubernetes-models/policy/v1/PodDisruptionBudget",
  "networking.k8s.io/v1/NetworkPolicy": "kubernetes-models/networking.k8s.io/v1/NetworkPolicy",
  "cert-manager.io/v1/Certificate":
      "@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate",
  "cert-manager.io/v1/Issuer": "@kubernetes-models/cert-manager/cert-manager.io/v1/Issuer",
  "cert-manager.io/v1/ClusterIssuer":
      "@kubernetes-models/cert-manager/cert-manager.io/v1/ClusterIssuer",
  "monitoring.coreos.com/v1/ServiceMonitor":
      "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor",
  "monitoring.coreos.com/v1/PrometheusRule":
      "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule",
};

// apiVersion/kind -> schema, for the kinds of rook-crds.yaml.
const CRD_SCHEMAS = loadCrdSchemas(join(dirname(fileURLToPath(import.meta.url)),
                                        "rook-crds.yaml"));

const MIB = 1024 * 1024;

function quantityBytes(q) {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$/.exec(String(q));
  if (!m) throw new Error(`unsupported quantity ${q}`);
  const scale = { Ki: 1024, Mi: MIB, Gi: 1024 * MIB, Ti: 1024 * 1024 * MIB,
                  K: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2]] || 1;
  return Number(m[1]) * scale;
}

async function loadKustomization(dir, problems) {
  const path = join(dir, "kustomization.yaml");
  const kustomization = parseYaml(readFileSync(path, "utf8"));
  if (isOverlay(kustomization, dir)) return renderKustomization(dir, problems);
  if (kustomization.apiVersion !== "kustomize.config.k8s.io/v1beta1" ||
      kustomization.kind !== "Kustomization") {
    problems.push(`${path}: not a kustomize.config.k8s.io/v1beta1 Kustomization`);
  }
  const objects = [];
  for (const resource of kustomization.resources || []) {
    const file = join(dir, resource);
    if (!existsSync(file)) {
      problems.push(`${path}: resource ${resource} does not exist`);
      continue;
    }
    for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
      if (doc.errors.length) problems.push(`${file}: ${doc.errors[0].message}`);
      const object = doc.toJS();
      if (object) objects.push({ file, object });
    }
  }
  for (const generator of kustomization.configMapGenerator || []) {
    for (const entry of generator.files || []) {
      const file = join(dir, entry.includes("=") ? entry.split("=")[1] : entry);
      if (!existsSync(file)) {
        problems.push(`${path}: configMapGenerator file ${entry} does not exist`);
      } else if (file.endsWith(".json")) {
        try { JSON.parse(readFileSync(file, "utf8")); } catch (e) {
          problems.push(`${file}: ${e.message}`);
        }
      }
    }
  }
  return { kustomization, objects };
}

async function validateSchemas(objects, problems) {
  for (const { file, object } of objects) {
    const key = `${object.apiVersion}/${object.kind}`;
    const module = MODELS[key];
    if (!module && CRD_SCHEMAS.has(key)) {
      for (const error of validateAgainstSchema(CRD_SCHEMAS.get(key), object)) {
        problems.push(`${file}: ${key} ${object.metadata?.name}: ${error}`);
      }
      continue;
    }
    if (!module) {
      problems.push(`${file}: no schema known for ${key}`);
      continue;
    }
    const Model = (await import(module))[object.kind];
    try {
      new Model(object).validate();
    } catch (e) {
      problems.push(`${file}: ${key} ${object.metadata?.name}: ${e.message}`);
    }
  }
}

function flagfileFlags(statefulSet, configMaps) {
  const container = statefulSet.spec.template.spec.containers[0];
  const flags = [...(container.args || [])];
  const flagfile = flags.find((a) => a.startsWith("--flagfile="));
  if (!flagfile) return { flags, problem: null };
  const path = flagfile.split("=")[1];
  const where = mountedFile(statefulSet.spec.template, container, path);
  if (where.problem) return { flags, problem: `--flagfile ${where.problem}` };
  const configMap = configMaps.find((c) => c.metadata.name === where.volume.configMap?.name);
  const key = where.key;
  if (!configMap || configMap.data?.[key] === undefined) {
    return { flags, problem: `--flagfile ${path}: no ConfigMap key ${key} mounted there` };
  }
  for (const line of configMap.data[key].split("\n")) {
    const trimmed = line.trim();
    if (trimmed && !trimmed.startsWith("#")) flags.push(trimmed);
  }
  return { flags, problem: null };
}

// blockstore's rules for its own manifests. `ctx` is securityCheck's (k8s-security.mjs).
function crossCheck(objects, ctx, problems) {
  const of = (kind) => objects.filter((o) => o.object.kind === kind).map((o) => o.object);
  const services = of("Service");
  const configMaps = of("ConfigMap");
  for (const sts of of("StatefulSet")) {
    const name = `StatefulSet ${sts.metadata.name}`;
    const pod = sts.spec.template;
    const podLabels = pod.metadata.labels;
    if (!selects(sts.spec.selector.matchLabels, podLabels)) {
      problems.push(`${name}: selector does not match its pod template`);
    }
    const governing = services.find((s) => s.metadata.name === sts.spec.serviceName);
    if (!governing || governing.spec.clusterIP !== "None") {
      problems.push(`${name}: serviceName ${sts.spec.serviceName} is not a headless Service`);
    }
    const container = pod.spec.containers.find((c) => c.name === "blockstored");
    if (!container) {
      problems.push(`${name}: no container named blockstored`);
      continue;
    }
    const ports = new Map((container.ports || []).map((p) => [p.name, p.containerPort]));
    for (const service of services) {
      if (!selects(service.spec.selector, podLabels)) {
        problems.push(`Service ${service.metadata.name}: selector matches no pod of ${name}`);
      }
      for (const port of service.spec.ports) {
        if (typeof port.targetPort === "string" && !ports.has(port.targetPort)) {
          problems.push(`Service ${service.metadata.name}: targetPort ${port.targetPort} is ` +
                        `not a container port`);
        }
      }
    }
    const podSecurity = pod.spec.securityContext || {};
    const security = container.securityContext || {};
    if (!(podSecurity.runAsNonRoot || security.runAsNonRoot)) {
      problems.push(`${name}: runAsNonRoot is not set`);
    }
    if (security.readOnlyRootFilesystem !== true) {
      problems.push(`${name}: root filesystem is writable`);
    }
    if (security.allowPrivilegeEscalation !== false) {
      problems.push(`${name}: allowPrivilegeEscalation is not false`);
    }
    if (JSON.stringify(security.capabilities?.drop) !== '["ALL"]' ||
        security.capabilities?.add?.length) {
      problems.push(`${name}: capabilities must drop ALL and add none`);
    }
    const seccomp = security.seccompProfile || podSecurity.seccompProfile;
    if (seccomp?.type !== "Localhost" || !/io-uring\.json$/.test(seccomp.localhostProfile)) {
      problems.push(`${name}: seccomp profile must be the Localhost io-uring.json profile`);
    }
    if (!(sts.spec.template.spec.terminationGracePeriodSeconds >= 60)) {
      problems.push(`${name}: terminationGracePeriodSeconds < 60 leaves no time to flush`);
    }
    const { flags, problem } = flagfileFlags(sts, configMaps);
    if (problem) problems.push(`${name}: ${problem}`);
    const flag = (n) => flags.find((f) => f.startsWith(`--${n}=`))?.split("=")[1];
    if (flag("store") === "rbd") {
      rbdPodCheck(sts, container, flags, ctx, problems);
    } else {
      const claims = (sts.spec.volumeClaimTemplates || []).map((c) => c.metadata.name);
      const dataMount = (container.volumeMounts || []).find((m) => m.mountPath === "/data");
      if (!dataMount || !claims.includes(dataMount.name)) {
        problems.push(`${name}: /data is not a volumeClaimTemplate`);
      }
      if (flag("data_dir") !== "/data") problems.push(`${name}: --data_dir must be /data`);
    }
    if (!flag("listen")?.endsWith(`:${ports.get("grpc")}`)) {
      problems.push(`${name}: --listen does not use the grpc container port`);
    }
    if (!flag("metrics_listen")?.endsWith(`:${ports.get("metrics")}`)) {
      problems.push(`${name}: --metrics_listen does not use the metrics container port`);
    }
    securityCheck(sts, container, flags, ports, ctx, problems);
    // Memory is sized from the cache: the budget plus at least 256 MiB for everything else.
    const cacheBytes = Number(flag("cache_bytes"));
    const request = quantityBytes(container.resources?.requests?.memory ?? 0);
    const limit = quantityBytes(container.resources?.limits?.memory ?? 0);
    if (!(cacheBytes > 0)) problems.push(`${name}: --cache_bytes is not set`);
    if (!(request >= cacheBytes + 256 * MIB) || !(limit >= request)) {
      problems.push(`${name}: memory request ${request} / limit ${limit} must cover ` +
                    `--cache_bytes (${cacheBytes}) plus 256 MiB`);
    }
  }
  for (const pdb of of("PodDisruptionBudget")) {
    const pods = of("StatefulSet").map((s) => s.spec.template.metadata.labels);
    if (!pods.some((labels) => selects(pdb.spec.selector.matchLabels, labels))) {
      problems.push(`PodDisruptionBudget ${pdb.metadata.name}: selects no pod`);
    }
  }
  for (const monitor of of("ServiceMonitor")) {
    const matched = services.filter((s) => selects(monitor.spec.selector.matchLabels,
                                                   s.metadata.labels));
    if (matched.length === 0) {
      problems.push(`ServiceMonitor ${monitor.metadata.name}: selects no Service`);
    }
    for (const endpoint of monitor.spec.endpoints) {
      if (!matched.every((s) => s.spec.ports.some((p) => p.name === endpoint.port))) {
        problems.push(`ServiceMonitor ${monitor.metadata.name}: port ${endpoint.port} ` +
                      `missing from a selected Service`);
      }
    }
    const jobLabel = monitor.spec.jobLabel;
    if (!matched.every((s) => s.metadata.labels?.[jobLabel] === "blockstore")) {
      problems.push(`ServiceMonitor ${monitor.metadata.name}: job label must be "blockstore" ` +
                    `(alerts and the dashboard select job="blockstore")`);
    }
  }
}

// Writes every ConfigMap file blockstored's container mounts under `root`; returns the Secret
// mounts as `secret NAME DIR` lines.
function layOutMounts(objects, root, problems) {
  const sts = objects.find((o) => o.kind === "StatefulSet");
  const pod = sts.spec.template;
  const container = pod.spec.containers.find((c) => c.name === "blockstored");
  const lines = [];
  for (const mount of container.volumeMounts || []) {
    const volume = (pod.spec.volumes || []).find((v) => v.name === mount.name);
    if (!volume?.configMap && !volume?.secret) continue;
    const dir = join(root, mount.mountPath);
    const source = volumeSource(volume, objects);
    if (source.problem) {
      problems.push(source.problem);
    } else if (source.kind === "Secret") {  // filled by the caller
      lines.push(`secret ${source.name} ${dir}`);
    } else {
      mkdirSync(dir, { recursive: true });
      const items = volume.configMap.items || [...source.keys.keys()].map((k) => ({ key: k,
                                                                                   path: k }));
      for (const item of items) writeFileSync(join(dir, item.path), source.keys.get(item.key));
    }
  }
  return lines;
}

// JSON with object keys sorted, so two renderings compare regardless of key order. Runs of
// line breaks count as one: kustomize's YAML library reads a folded scalar (`>-`) whose lines
// are indented further with an extra line break before them (the alert expressions of
// prometheusrule.yaml come out with blank lines, which PromQL ignores).
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort()
        .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(typeof value === "string" ? value.replace(/\n\n+/g, "\n") : value);
}

// The differences between the objects checked here and kubectl's rendering of the same.
function compareObjects(ours, theirs) {
  const id = (o) => `${o.apiVersion}/${o.kind} ${o.metadata?.namespace ?? "-"}/` +
                    `${o.metadata?.name}`;
  const differences = [];
  const byId = new Map(theirs.map((o) => [id(o), o]));
  for (const object of ours) {
    const other = byId.get(id(object));
    if (!other) {
      differences.push(`${id(object)} is checked here but kubectl kustomize does not make it`);
    } else if (canonical(object) !== canonical(other)) {
      differences.push(`${id(object)} differs from kubectl kustomize's:\n  here:    ` +
                       `${canonical(object)}\n  kubectl: ${canonical(other)}`);
    }
    byId.delete(id(object));
  }
  for (const missing of byId.keys()) {
    differences.push(`${missing} is made by kubectl kustomize but not checked here`);
  }
  return differences;
}

async function main() {
  const [command, ...dirs] = process.argv.slice(2);
  const problems = [];
  if (command === "mounts" && dirs.length === 2) {
    const { objects } = await loadKustomization(dirs[0], problems);
    const lines = layOutMounts(objects.map((o) => o.object), dirs[1], problems);
    for (const line of lines) console.log(line);
  } else if (command === "certificate" && dirs.length === 2) {
    const { objects } = await loadKustomization(dirs[0], problems);
    const certificate = objects.map((o) => o.object)
        .find((o) => o.kind === "Certificate" && o.metadata.name === dirs[1]);
    if (!certificate) problems.push(`no Certificate ${dirs[1]} in ${dirs[0]}`);
    for (const dns of certificate?.spec.dnsNames || []) console.log(`dns ${dns}`);
    for (const uri of certificate?.spec.uris || []) console.log(`uri ${uri}`);
  } else if (command === "compare" && dirs.length === 2) {
    const { objects } = renderKustomization(dirs[0], problems);
    const rendered = parseAllDocuments(readFileSync(dirs[1], "utf8"))
        .map((d) => d.toJS()).filter(Boolean);
    for (const difference of compareObjects(objects.map((o) => o.object), rendered)) {
      problems.push(`${dirs[0]}: ${difference}`);
    }
    console.log(`${rendered.length} objects from kubectl kustomize, ${objects.length} here`);
  } else if (command === "flags") {
    const { objects } = await loadKustomization(dirs[0], problems);
    const sts = objects.map((o) => o.object).find((o) => o.kind === "StatefulSet");
    const configMaps = objects.map((o) => o.object).filter((o) => o.kind === "ConfigMap");
    const { flags, problem } = flagfileFlags(sts, configMaps);
    if (problem) problems.push(problem);
    for (const f of flags) console.log(f);
  } else if (command === "check" && dirs.length) {
    let rules = null;
    if (dirs[0] === "--rules") {
      rules = parseYaml(readFileSync(dirs[1], "utf8"));
      dirs.splice(0, 2);
    }
    let count = 0;
    const loaded = [];
    const policies = [];
    const rbd = [];
    for (const dir of dirs) {
      const { kustomization, objects } = await loadKustomization(dir, problems);
      count += objects.length;
      await validateSchemas(objects, problems);
      const namespace = kustomization.namespace || "default";
      loaded.push({ namespace, objects: objects.map((o) => o.object) });
      crossCheck(objects, { objects: objects.map((o) => o.object), namespace, policies, rbd },
                 problems);
      for (const { file, object } of objects) {
        if (object.kind === "PrometheusRule" && rules &&
            JSON.stringify(object.spec) !== JSON.stringify(rules)) {
          problems.push(`${file}: spec differs from the rule file; copy the rules into it`);
        }
      }
    }
    globalSecurityCheck(loaded, policies, problems);
    rbdGlobalCheck(loaded, rbd, problems);
    console.log(`${count} objects in ${dirs.length} kustomizations: ${problems.length} problems`);
  } else {
    problems.push("usage: validate-k8s.mjs check [--rules FILE] DIR... | flags DIR | " +
                  "mounts DIR ROOT | certificate DIR NAME | compare DIR RENDERED_YAML");
  }
  for (const problem of problems) console.error(problem);
  process.exitCode = problems.length ? 1 : 0;
}

main().catch((e) => {
  console.error(e.stack || e.message);
  process.exitCode = 1;
});
