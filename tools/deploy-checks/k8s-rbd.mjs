// blockstore's rules for a StatefulSet on --store=rbd (deploy/k8s-rbd), used by
// validate-k8s.mjs: the pod keeps no data, finds its ceph.conf and keyring where the flags and
// ceph.conf say, connects as a client of its own, and the Rook resources checked alongside
// (the CephBlockPool, the CephClient) are the pool and client the flags name, with what
// blockstore needs of them. Each message says what would go wrong in the cluster.

import { mountedFile, volumeSource } from "./k8s-security.mjs";

// Ceph treats spaces, underscores and dashes in option names alike.
function optionName(name) {
  return name.trim().toLowerCase().replace(/[ -]+/g, "_");
}

// A ceph.conf as Map(section -> Map(option -> value)), the way Ceph reads it: [sections],
// `name = value` lines, `#` and `;` comments (also after a value).
export function parseCephConf(text) {
  const sections = new Map();
  let section = null;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/(^|\s)[#;].*$/, "").trim();
    if (!line) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = header[1].trim();
      if (!sections.has(section)) sections.set(section, new Map());
      continue;
    }
    const at = line.indexOf("=");
    if (section === null || at < 0) continue;
    sections.get(section).set(optionName(line.slice(0, at)), line.slice(at + 1).trim());
  }
  return sections;
}

// An option as client.ID sees it: its own section, then [client], then [global].
export function cephOption(conf, clientId, name) {
  for (const section of [`client.${clientId}`, "client", "global"]) {
    const value = conf.get(section)?.get(optionName(name));
    if (value !== undefined) return value;
  }
  return undefined;
}

// The Ceph client a keyring file's text holds keys for, and whether each has a key.
export function keyringEntities(text) {
  const conf = parseCephConf(text);
  return [...conf.entries()].map(([entity, options]) => ({ entity, key: options.get("key") }));
}

function flagValue(flags, name) {
  const flag = flags.find((f) => f === `--${name}` || f.startsWith(`--${name}=`));
  if (flag === undefined) return undefined;
  return flag.includes("=") ? flag.slice(flag.indexOf("=") + 1) : "true";
}

// A file blockstored (or librados in it) reads, from a whole-directory read-only mount of the
// expected kind. Returns { source, key, content } or null after reporting the problem.
function mountedSource(name, what, pod, container, path, kind, objects, problems) {
  const where = mountedFile(pod, container, path);
  if (where.problem) {
    problems.push(`${name}: ${what}: ${where.problem}`);
    return null;
  }
  const { mount, volume, key } = where;
  if (mount.subPath || mount.subPathExpr) {
    problems.push(`${name}: ${what}: mount ${mount.mountPath} uses subPath, which the kubelet ` +
                  `never updates`);
  }
  if (mount.readOnly !== true) {
    problems.push(`${name}: ${what}: mount ${mount.mountPath} must be readOnly`);
  }
  const source = volumeSource(volume, objects);
  if (source.problem) {
    problems.push(`${name}: ${what}: ${source.problem}`);
    return null;
  }
  if (source.kind !== kind) {
    problems.push(`${name}: ${what} comes from ${source.kind} ${source.name}; ` +
                  (kind === "Secret" ? "a key belongs in a Secret"
                                     : `it belongs in a ${kind}`));
    return null;
  }
  if (source.keys !== null && (key === null || !source.keys.has(key))) {
    problems.push(`${name}: ${what}=${path}: ${source.kind} ${source.name} has no key ` +
                  `${key ?? path} (it has ${[...source.keys.keys()].join(", ")})`);
    return null;
  }
  return { source, key, content: source.keys?.get(key) ?? null };
}

// The Secret's `key` as text, from stringData or base64 data; null when unknown.
function secretText(objects, name, key) {
  const secret = objects.find((o) => o.kind === "Secret" && o.metadata.name === name);
  if (!secret) return null;
  if (secret.stringData?.[key] !== undefined) return secret.stringData[key];
  if (secret.data?.[key] !== undefined) return Buffer.from(secret.data[key], "base64").toString();
  return null;
}

// One StatefulSet on --store=rbd. `ctx.rbd` collects { name, namespace, pool, clientId } for
// rbdGlobalCheck.
export function rbdPodCheck(sts, container, flags, ctx, problems) {
  const name = `StatefulSet ${sts.metadata.name}`;
  const pod = sts.spec.template;
  const objects = ctx.objects;
  if ((sts.spec.volumeClaimTemplates || []).length) {
    problems.push(`${name}: --store=rbd keeps no data on the pod: drop volumeClaimTemplates ` +
                  `(each replica would get a disk nothing uses)`);
  }
  for (const flag of ["data_dir", "thin"]) {
    if (flagValue(flags, flag) !== undefined) {
      problems.push(`${name}: --${flag} is for --store=dir; with --store=rbd it is ignored`);
    }
  }
  const clientId = flagValue(flags, "ceph_client_id") ?? "admin";
  if (clientId === "admin") {
    problems.push(`${name}: --ceph_client_id=admin would put the cluster's admin key in every ` +
                  `pod: connect as a client of its own (a CephClient with rbd capabilities)`);
  }
  const pool = flagValue(flags, "rbd_pool") ?? "rbd";
  ctx.rbd.push({ name, namespace: ctx.namespace, pool, clientId });

  const confPath = flagValue(flags, "ceph_conf");
  if (!confPath) {
    problems.push(`${name}: --store=rbd without --ceph_conf reads $CEPH_CONF or ` +
                  `/etc/ceph/ceph.conf, which the manifests do not provide`);
    return;
  }
  const conf = mountedSource(name, "--ceph_conf", pod, container, confPath, "ConfigMap",
                             objects, problems);
  if (!conf || typeof conf.content !== "string") return;
  const cephConf = parseCephConf(conf.content);
  if (!cephOption(cephConf, clientId, "mon_host") &&
      !cephOption(cephConf, clientId, "mon_dns_srv_name")) {
    problems.push(`${name}: ${conf.source.name}'s ${conf.key} names no mon_host: ` +
                  `blockstored cannot find the cluster`);
  }
  for (const option of ["key", "keyfile"]) {
    if (cephOption(cephConf, clientId, option)) {
      problems.push(`${name}: ${conf.source.name}'s ${conf.key} sets ${option}: a key belongs ` +
                    `in the keyring Secret, not a ConfigMap`);
    }
  }
  const keyringPath = cephOption(cephConf, clientId, "keyring");
  if (!keyringPath || keyringPath.split(",").length !== 1 || !keyringPath.startsWith("/")) {
    problems.push(`${name}: ${conf.source.name}'s ${conf.key} must name the keyring file, one ` +
                  `absolute path (keyring = ...), mounted from a Secret`);
    return;
  }
  const keyring = mountedSource(name, `ceph.conf's keyring`, pod, container, keyringPath,
                                "Secret", objects, problems);
  if (!keyring) return;
  const text = secretText(objects, keyring.source.name, keyring.key);
  if (text === null) return;  // made outside the manifests (keyring-secret.sh)
  const entities = keyringEntities(text);
  const own = entities.find((e) => e.entity === `client.${clientId}`);
  if (!own || !own.key) {
    problems.push(`${name}: Secret ${keyring.source.name}'s ${keyring.key} holds no key of ` +
                  `client.${clientId} (it has ${entities.map((e) => e.entity).join(", ") ||
                  "nothing"}): --ceph_client_id=${clientId} could not authenticate`);
  }
}

function capGrants(cap) {
  return (cap || "").split(",").map((g) => g.trim().replace(/\s+/g, " ")).filter(Boolean);
}

// Rules across the kustomizations checked together: the pool and the client a StatefulSet
// names are a CephBlockPool and a CephClient there, replicated, with the capabilities an RBD
// client needs on that pool. Skipped when no Rook resource is checked (a cluster not run by
// Rook). `dirs`: [{ objects, namespace }].
export function rbdGlobalCheck(dirs, users, problems) {
  const all = dirs.flatMap(({ objects, namespace }) =>
      objects.map((object) => ({ object, namespace: object.metadata?.namespace || namespace })));
  const pools = all.filter((o) => o.object.kind === "CephBlockPool");
  const clients = all.filter((o) => o.object.kind === "CephClient");
  if (!pools.length && !clients.length) return;
  for (const user of users) {
    const pool = pools.find((p) => (p.object.spec?.name || p.object.metadata.name) === user.pool);
    if (!pool) {
      problems.push(`${user.name}: --rbd_pool=${user.pool} is no CephBlockPool's pool: Rook ` +
                    `creates no such pool`);
    } else {
      const what = `CephBlockPool ${pool.namespace}/${pool.object.metadata.name}`;
      const spec = pool.object.spec || {};
      if (!spec.replicated) {
        problems.push(`${what}: not replicated: RBD keeps an image's metadata in a replicated ` +
                      `pool (an erasure-coded one needs a separate data pool, which blockstored ` +
                      `does not set)`);
      } else if (!(spec.replicated.size >= 2)) {
        problems.push(`${what}: replicated.size ${spec.replicated.size} keeps one copy: a ` +
                      `volume is lost with one disk`);
      }
    }
    const client = clients.find((c) =>
        (c.object.spec?.name || c.object.metadata.name) === user.clientId);
    if (!client) {
      problems.push(`${user.name}: --ceph_client_id=${user.clientId} is no CephClient's ` +
                    `client: Rook makes no key for it`);
      continue;
    }
    const what = `CephClient ${client.namespace}/${client.object.metadata.name}`;
    const caps = client.object.spec?.caps || {};
    if (!capGrants(caps.mon).includes("profile rbd")) {
      problems.push(`${what}: caps.mon lacks "profile rbd": the client cannot open images or ` +
                    `fence a dead server`);
    }
    const osd = capGrants(caps.osd);
    if (!osd.includes(`profile rbd pool=${user.pool}`) && !osd.includes("profile rbd")) {
      problems.push(`${what}: caps.osd does not grant "profile rbd pool=${user.pool}": every ` +
                    `read and write of ${user.name} would fail with EPERM`);
    }
    if (pool && pool.namespace !== client.namespace) {
      problems.push(`${what}: in namespace ${client.namespace}, its pool's CephBlockPool in ` +
                    `${pool.namespace}: both belong in the CephCluster's namespace`);
    }
  }
}
