// blockstore's security rules for its Kubernetes manifests, used by validate-k8s.mjs: the
// gRPC port's TLS and who reaches it. What each rule prevents is in its message; every
// message here is a mistake that would either keep blockstored from starting, break
// certificate rotation or policy reloads, or let in callers the deployment meant to keep out.

// Flags that name a file blockstored reads (and re-reads when it changes on disk).
const FILE_FLAGS = ["tls_cert_file", "tls_key_file", "tls_client_ca_file",
                    "access_policy_file", "access_tokens_file"];
// The keys cert-manager writes into a Certificate's Secret, and the flag each one is for.
const CERTIFICATE_KEYS = { tls_cert_file: "tls.crt", tls_key_file: "tls.key",
                           tls_client_ca_file: "ca.crt" };
const IDENTITY = /^(uri:.+|dns:.+|cn:.+|token:.+|\*)$/;
// cert-manager reads a ClusterIssuer's CA Secret from its cluster resource namespace.
const CLUSTER_RESOURCE_NAMESPACE = "cert-manager";

export function selects(selector, labels) {
  return Object.entries(selector || {}).every(([k, v]) => labels?.[k] === v);
}

// Where a path inside the container comes from: the deepest volume mount above it (or a
// subPath mount of the file itself), its volume, and the ConfigMap or Secret key behind the
// file (through `items` when listed).
export function mountedFile(pod, container, path) {
  const under = (m) => path.startsWith(m.mountPath.replace(/\/$/, "") + "/") ||
                       (m.subPath && m.mountPath === path);
  const mount = (container.volumeMounts || []).filter(under)
      .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (!mount) return { problem: `${path} is not under a volume mount` };
  const volume = (pod.spec.volumes || []).find((v) => v.name === mount.name);
  if (!volume) return { problem: `${path}: volume ${mount.name} is not defined` };
  const base = mount.mountPath.replace(/\/$/, "");
  const rest = mount.mountPath === path ? mount.subPath : path.slice(base.length + 1);
  const source = volume.configMap || volume.secret;
  let key = rest;
  if (source?.items) key = source.items.find((i) => i.path === rest)?.key ?? null;
  return { mount, volume, key };
}

// The keys a ConfigMap or Secret volume provides, and their content where the manifests hold
// it: { kind, name, keys: Map(key -> content or null) } (keys null for a Secret the manifests
// neither define nor have cert-manager write), or { problem }.
export function volumeSource(volume, objects) {
  const named = (kind, name) => objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (volume.configMap) {
    const configMap = named("ConfigMap", volume.configMap.name);
    if (!configMap) return { problem: `ConfigMap ${volume.configMap.name} is not defined here` };
    return { kind: "ConfigMap", name: configMap.metadata.name,
             keys: new Map(Object.entries(configMap.data || {})) };
  }
  if (volume.secret) {
    const name = volume.secret.secretName;
    const certificate = objects.find((o) => o.kind === "Certificate" &&
                                             o.spec.secretName === name);
    if (certificate) {
      return { kind: "Secret", name, certificate,
               keys: new Map(Object.values(CERTIFICATE_KEYS).map((k) => [k, null])) };
    }
    const secret = named("Secret", name);
    // Created outside the manifests (kubectl create secret): its keys are unknown.
    if (!secret) return { kind: "Secret", name, keys: null };
    return { kind: "Secret", name, keys: new Map(
        [...Object.keys(secret.data || {}), ...Object.keys(secret.stringData || {})]
            .map((k) => [k, secret.stringData?.[k] ?? null])) };
  }
  return { problem: `volume ${volume.name} is neither a ConfigMap nor a Secret` };
}

function flagValue(flags, name) {
  const flag = flags.find((f) => f === `--${name}` || f.startsWith(`--${name}=`));
  if (flag === undefined) return undefined;
  return flag.includes("=") ? flag.slice(flag.indexOf("=") + 1) : "true";
}

function isLocalListen(listen) {
  return /^(unix:|127\.|localhost:|\[::1\]:)/.test(listen || "");
}

// The identities of an access policy's text (blockstore.v1.AccessPolicy, text format). protoc
// checks the syntax; this reads the quoted identities to check their form.
export function policyIdentities(text) {
  return [...text.matchAll(/^\s*identities\s*:\s*"((?:[^"\\]|\\.)*)"/gm)].map((m) => m[1]);
}

function checkTransport(name, flags, problems) {
  const cert = flagValue(flags, "tls_cert_file");
  const key = flagValue(flags, "tls_key_file");
  if (Boolean(cert) !== Boolean(key)) {
    problems.push(`${name}: --tls_cert_file and --tls_key_file must be set together`);
  }
  if (flagValue(flags, "tls_client_ca_file") && !cert) {
    problems.push(`${name}: --tls_client_ca_file without --tls_cert_file: mutual TLS needs TLS`);
  }
  const insecure = ["true", "1"].includes(flagValue(flags, "allow_insecure_remote"));
  const listen = flagValue(flags, "listen");
  if (!cert && !insecure && !isLocalListen(listen)) {
    problems.push(`${name}: blockstored refuses plaintext gRPC on --listen=${listen}: set ` +
                  `--tls_cert_file and --tls_key_file (or --allow_insecure_remote)`);
  }
  if (cert && insecure) {
    problems.push(`${name}: --allow_insecure_remote with TLS on: drop it`);
  }
}

// The files the flags name: mounted whole (no subPath), read-only, from a key that exists; the
// TLS files from one cert-manager Secret, each from its own key. Returns what was found.
function checkFiles(name, pod, container, flags, objects, problems) {
  const found = {};
  for (const flag of FILE_FLAGS) {
    const path = flagValue(flags, flag);
    if (!path) continue;
    const where = mountedFile(pod, container, path);
    if (where.problem) {
      problems.push(`${name}: --${flag}: ${where.problem}`);
      continue;
    }
    const { mount, volume, key } = where;
    if (mount.subPath || mount.subPathExpr) {
      problems.push(`${name}: --${flag}: mount ${mount.mountPath} uses subPath, which the ` +
                    `kubelet never updates: rotated certificates and policy edits would not ` +
                    `reach blockstored`);
    }
    if (mount.readOnly !== true) {
      problems.push(`${name}: --${flag}: mount ${mount.mountPath} must be readOnly`);
    }
    const source = volumeSource(volume, objects);
    if (source.problem) {
      problems.push(`${name}: --${flag}: ${source.problem}`);
      continue;
    }
    const serverPair = flag === "tls_cert_file" || flag === "tls_key_file";
    if (serverPair && source.kind === "Secret" && !source.certificate) {
      problems.push(`${name}: --${flag}: Secret ${source.name} is no Certificate's ` +
                    `secretName here: nothing renews it`);
    }
    if (source.keys === null) {
      found[flag] = { source, key, content: null };
      continue;
    }
    if (key === null || !source.keys.has(key)) {
      problems.push(`${name}: --${flag}=${path}: ${source.kind} ${source.name} has no key ` +
                    `${key ?? path} (it has ${[...source.keys.keys()].join(", ")})`);
      continue;
    }
    if (flag === "tls_key_file" && source.kind !== "Secret") {
      problems.push(`${name}: --${flag} comes from ${source.kind} ${source.name}; a private ` +
                    `key belongs in a Secret`);
    }
    if (source.certificate && CERTIFICATE_KEYS[flag] && CERTIFICATE_KEYS[flag] !== key) {
      problems.push(`${name}: --${flag} names ${key} of the Secret ${source.name}; it must be ` +
                    `${CERTIFICATE_KEYS[flag]}`);
    }
    found[flag] = { source, key, content: source.keys.get(key) };
  }
  if (found.tls_cert_file && found.tls_key_file &&
      found.tls_cert_file.source.name !== found.tls_key_file.source.name) {
    problems.push(`${name}: --tls_cert_file and --tls_key_file come from different Secrets: ` +
                  `a rotation would pair a certificate with another key`);
  }
  return found;
}

// The server's Certificate: its names cover every Service that selects the pods, it may serve,
// and its issuer exists.
function checkServerCertificate(name, certificate, podLabels, services, namespace, problems) {
  const what = `Certificate ${certificate.metadata.name}`;
  const dnsNames = certificate.spec.dnsNames || [];
  for (const service of services) {
    if (!selects(service.spec.selector, podLabels)) continue;
    const svc = service.metadata.name;
    const needed = service.spec.clusterIP === "None" ? `*.${svc}.${namespace}.svc`
                                                     : `${svc}.${namespace}.svc`;
    if (!dnsNames.includes(needed)) {
      problems.push(`${what}: dnsNames lack ${needed}: clients of Service ${svc} would ` +
                    `refuse the server's certificate`);
    }
  }
  const usages = certificate.spec.usages;
  if (usages && !usages.includes("server auth")) {
    problems.push(`${what}: usages lack "server auth": clients would refuse it for ${name}`);
  }
}

// Probes that work against the gRPC port as configured: the kubelet's grpc probe speaks
// plaintext only.
function checkProbes(name, container, ports, tls, problems) {
  const portOf = (p) => (typeof p === "string" ? ports.get(p) : p);
  for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
    if (tls && container[probe]?.grpc) {
      problems.push(`${name}: ${probe} is a grpc probe, which speaks plaintext: it always ` +
                    `fails against the TLS port`);
    }
  }
  for (const probe of ["startupProbe", "readinessProbe"]) {
    const p = container[probe] || {};
    const port = p.grpc ? p.grpc.port : portOf(p.tcpSocket?.port);
    if (port === undefined || port !== ports.get("grpc")) {
      problems.push(`${name}: ${probe} must check the grpc port (the kubelet's grpc probe ` +
                    `without TLS, tcpSocket with it): it opens once the volumes are open`);
    }
  }
  const live = container.livenessProbe || {};
  const grpcHealth = !tls && live.grpc?.port === ports.get("grpc");
  const metrics = live.httpGet?.path === "/metrics" &&
                  portOf(live.httpGet.port) === ports.get("metrics");
  if (!grpcHealth && !metrics) {
    problems.push(`${name}: livenessProbe must be a gRPC health probe on the grpc port ` +
                  `(without TLS) or GET /metrics on the metrics port`);
  }
}

// NetworkPolicies: some policy selects the pods; each ingress rule names its sources and its
// ports; the grpc and the metrics ports are both admitted.
function checkNetworkPolicies(name, podLabels, ports, policies, problems) {
  const selecting = policies.filter((np) => selects(np.spec.podSelector?.matchLabels, podLabels) &&
                                            !(np.spec.podSelector?.matchExpressions || []).length);
  if (!selecting.length) {
    problems.push(`${name}: no NetworkPolicy selects its pods: every pod in the cluster can ` +
                  `reach the gRPC port`);
    return;
  }
  const admitted = new Set();
  for (const np of selecting) {
    const what = `NetworkPolicy ${np.metadata.name}`;
    const types = np.spec.policyTypes;
    if (types && !types.includes("Ingress")) {
      problems.push(`${what}: policyTypes lacks Ingress: it restricts no incoming connection`);
      continue;
    }
    (np.spec.ingress || []).forEach((rule, i) => {
      if (!rule.from?.length) {
        problems.push(`${what}: ingress rule ${i} has no "from": it admits every source`);
      }
      for (const peer of rule.from || []) {
        const empty = (s) => s && !Object.keys(s.matchLabels || {}).length &&
                             !(s.matchExpressions || []).length;
        if (empty(peer.namespaceSelector) && (!peer.podSelector || empty(peer.podSelector))) {
          problems.push(`${what}: ingress rule ${i} admits every namespace ` +
                        `(namespaceSelector: {})`);
        }
        if (["0.0.0.0/0", "::/0"].includes(peer.ipBlock?.cidr)) {
          problems.push(`${what}: ingress rule ${i} admits every address (${peer.ipBlock.cidr})`);
        }
      }
      if (!rule.ports?.length) {
        problems.push(`${what}: ingress rule ${i} has no "ports": it admits every port`);
      }
      for (const port of rule.ports || []) {
        const number = typeof port.port === "string" ? ports.get(port.port) : port.port;
        if (![...ports.values()].includes(number)) {
          problems.push(`${what}: ingress rule ${i}: port ${port.port} is not a container ` +
                        `port of ${name}`);
        } else {
          admitted.add(number);
        }
      }
    });
  }
  if (!admitted.has(ports.get("grpc"))) {
    problems.push(`${name}: no NetworkPolicy rule admits the grpc port: no client can connect`);
  }
  if (ports.has("metrics") && !admitted.has(ports.get("metrics"))) {
    problems.push(`${name}: no NetworkPolicy rule admits the metrics port: Prometheus cannot ` +
                  `scrape it`);
  }
}

// One StatefulSet's security rules. `ctx`: { objects, namespace, policies } where policies
// collects the access policies found (for the checks across kustomizations).
export function securityCheck(sts, container, flags, ports, ctx, problems) {
  const name = `StatefulSet ${sts.metadata.name}`;
  const pod = sts.spec.template;
  const objects = ctx.objects;
  const of = (kind) => objects.filter((o) => o.kind === kind);
  checkTransport(name, flags, problems);
  const tls = Boolean(flagValue(flags, "tls_cert_file"));
  checkProbes(name, container, ports, tls, problems);
  checkNetworkPolicies(name, pod.metadata.labels, ports, of("NetworkPolicy"), problems);
  const files = checkFiles(name, pod, container, flags, objects, problems);
  const certificate = files.tls_cert_file?.source.certificate;
  if (certificate) {
    checkServerCertificate(name, certificate, pod.metadata.labels, of("Service"), ctx.namespace,
                           problems);
  }
  const policy = files.access_policy_file?.content;
  if (typeof policy === "string") {
    const identities = policyIdentities(policy);
    ctx.policies.push({ name: `${name} --access_policy_file`, identities });
    if (!identities.length) {
      problems.push(`${name}: the access policy names no identity: every call is refused`);
    }
    for (const identity of identities) {
      if (!IDENTITY.test(identity)) {
        problems.push(`${name}: access policy identity "${identity}" is none of uri:..., ` +
                      `dns:..., cn:..., token:... or *`);
      }
      if (identity.startsWith("token:") && !flagValue(flags, "access_tokens_file")) {
        problems.push(`${name}: access policy names ${identity} but no --access_tokens_file ` +
                      `defines tokens`);
      }
    }
  }
}

// Rules across the kustomizations checked together: issuers resolve, a CA issuer has its CA,
// and every client certificate's URI is an identity of the access policy.
// `dirs`: [{ objects, namespace }].
export function globalSecurityCheck(dirs, policies, problems) {
  const all = dirs.flatMap(({ objects, namespace }) =>
      objects.map((object) => ({ object, namespace: object.metadata?.namespace || namespace })));
  const clusterIssuers = all.filter((o) => o.object.kind === "ClusterIssuer");
  const certificates = all.filter((o) => o.object.kind === "Certificate");
  for (const { object, namespace } of certificates) {
    const what = `Certificate ${namespace}/${object.metadata.name}`;
    const ref = object.spec.issuerRef;
    const kind = ref.kind || "Issuer";
    const issuer = kind === "ClusterIssuer"
        ? clusterIssuers.find((i) => i.object.metadata.name === ref.name)
        : all.find((o) => o.object.kind === "Issuer" && o.namespace === namespace &&
                          o.object.metadata.name === ref.name);
    if (!issuer && ["Issuer", "ClusterIssuer"].includes(kind)) {
      problems.push(`${what}: issuerRef ${kind} ${ref.name} is not among the checked manifests`);
    }
    const uris = object.spec.uris || [];
    if ((object.spec.usages || []).includes("client auth") && policies.length) {
      for (const uri of uris) {
        if (!policies.some((p) => p.identities.includes(`uri:${uri}`))) {
          problems.push(`${what}: its identity uri:${uri} is named by no rule of the access ` +
                        `policy: its calls would be refused`);
        }
      }
    }
  }
  for (const { object, namespace } of all) {
    const secretName = object.spec?.ca?.secretName;
    if (!["Issuer", "ClusterIssuer"].includes(object.kind) || !secretName) continue;
    const where = object.kind === "ClusterIssuer" ? CLUSTER_RESOURCE_NAMESPACE : namespace;
    const ca = certificates.find((c) => c.object.spec.secretName === secretName &&
                                        c.namespace === where);
    if (!ca || ca.object.spec.isCA !== true) {
      problems.push(`${object.kind} ${object.metadata.name}: its CA Secret ${where}/` +
                    `${secretName} is no isCA Certificate's secretName`);
    }
  }
}
