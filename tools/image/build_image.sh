#!/usr/bin/env bash
# Builds blockstored's container image without a container engine, and checks it:
#
#   1. bazel build -c opt //server:blockstored //client:blockctl (or --blockstored/--blockctl);
#   2. a Debian bookworm root file system with mmdebstrap (variant minbase) holding exactly the
#      packages of deploy/Dockerfile's runtime stage (read from it, so the two cannot drift),
#      from the package sources apt is configured with here; user and group 10001 and /data as
#      the Dockerfile makes them; blockstored (stripped) in /usr/local/bin;
#   3. an OCI image of it with buildah (from scratch, copy, config, commit): USER, ENTRYPOINT,
#      CMD, EXPOSE, VOLUME and STOPSIGNAL read from the Dockerfile; pushed to an oci-archive
#      file, OUT/blockstored-VERSION.oci.tar (`skopeo copy oci-archive:FILE docker://REGISTRY/..`
#      uploads it; `podman load -i FILE` loads it);
#   4. the image checked from that file: its config against the Dockerfile, every blob against
#      its digest, then its layer unpacked and run with chroot as user 10001, the way a runtime
#      would (a fresh /proc, a /dev with the runtime's devices, the image's PATH only):
#      `ldd blockstored` resolves every library, `--help` runs, the image's CMD with loopback
#      addresses serves (blockctl, run in the same root, creates, writes, reads back and lists
#      a volume; /metrics answers) and exits 0 on SIGTERM; --store=rbd with a missing ceph.conf
#      fails on that file, not in the dynamic linker; and, when Ceph is installed, blockstored
#      in the image serves a volume in a throwaway cluster (tools/ceph/start_cluster.sh) through
#      the image's librbd, with deploy/k8s-rbd's ceph.conf as the pod mounts it.
#
#   tools/image/build_image.sh [--out DIR] [--tag NAME:VERSION] [--blockstored FILE
#                              --blockctl FILE] [--ceph yes|no|auto]
#
# --out: where the image goes (default data/image, which git ignores). --tag: the image's name
# in the archive (default blockstored:0.1.0, as deploy/README.md builds it). --blockstored and
# --blockctl: use these binaries instead of building. --ceph: the check against a cluster
# (auto: skipped, saying so, when Ceph is not installed; yes: required). Bazel's command and
# flags: $BAZEL (default bazel), $BAZEL_STARTUP_FLAGS, $BAZEL_FLAGS (e.g. --jobs=1).
#
# Runs as root (mmdebstrap's root mode, chroot, mount). Installs mmdebstrap, buildah, skopeo,
# jq and binutils with apt-get when missing. Needs the package archive apt is configured with;
# nothing else from the network. Every step is bounded; mounts, servers, the cluster and the
# temporary directory are removed on exit, also on failure. Exit 0: the image is built and
# every check passed; 1: a step failed (the message says which); 2: bad command line.
set -euo pipefail
caller_dir="$(pwd)"
readonly caller_dir
cd "$(dirname "$0")/../.."
readonly started_at="${SECONDS}"

out_dir=""
tag="blockstored:0.1.0"
blockstored_in=""
blockctl_in=""
ceph_mode="auto"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out_dir="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    --blockstored) blockstored_in="$2"; shift 2 ;;
    --blockctl) blockctl_in="$2"; shift 2 ;;
    --ceph) ceph_mode="$2"; shift 2 ;;
    -h|--help) sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build_image: unknown argument $1 (--help)" >&2; exit 2 ;;
  esac
done
case "${ceph_mode}" in yes|no|auto) ;; *) echo "build_image: --ceph yes|no|auto" >&2; exit 2 ;; esac
if [[ -n "${blockstored_in}${blockctl_in}" && ( -z "${blockstored_in}" || -z "${blockctl_in}" ) ]]
then
  echo "build_image: --blockstored and --blockctl go together" >&2; exit 2
fi
[[ "${tag}" == *:* ]] || { echo "build_image: --tag NAME:VERSION" >&2; exit 2; }
# Paths given on the command line are the caller's; the default --out is the repository's.
from_caller() { if [[ -n "$1" && "$1" != /* ]]; then echo "${caller_dir}/$1"; else echo "$1"; fi; }
if [[ -z "${out_dir}" ]]; then out_dir="data/image"; else out_dir="$(from_caller "${out_dir}")"; fi
blockstored_in="$(from_caller "${blockstored_in}")"
blockctl_in="$(from_caller "${blockctl_in}")"

# The bounds. A step that takes this long has hung (measured times: deploy/README.md).
readonly kAptSeconds=900         # apt-get update and install
readonly kBazelSeconds=3600      # a cold -c opt build on 2 cores takes ~15 min
readonly kRootfsSeconds=1200     # mmdebstrap: ~60 s
readonly kBuildahSeconds=600     # each buildah/skopeo step: seconds
readonly kCommandSeconds=60      # each command run in the image
readonly kServerStartTenths=300  # blockstored's listening line: 30 s
readonly kServerStopTenths=600   # exit after SIGTERM: 60 s
readonly kClusterSeconds=300     # start_cluster.sh bounds its own steps; ~11 s

log() { echo "build_image: $*" >&2; }
die() { log "FAILED: $*"; exit 1; }
# step NAME: starts a timed step; the previous one's time is recorded.
step_name=""
step_start=0
timings=()
step() {
  if [[ -n "${step_name}" ]]; then timings+=("$((SECONDS - step_start)) s  ${step_name}"); fi
  step_name="$1"
  step_start="${SECONDS}"
  if [[ -n "$1" ]]; then log "--- $1"; fi
}
# bounded SECONDS WHAT COMMAND...: runs COMMAND, failing the build with WHAT if it fails or
# outlives SECONDS.
bounded() {
  local seconds="$1" what="$2" status=0
  shift 2
  timeout --kill-after=10 "${seconds}" "$@" || status=$?
  if (( status == 124 || status == 137 )); then die "${what}: timed out after ${seconds} s"; fi
  if (( status != 0 )); then die "${what}: exit status ${status}"; fi
}

[[ "$(id -u)" -eq 0 ]] ||
  die "run as root: mmdebstrap's root mode, chroot and mount need it (sudo $0)"

tmp=""
server_pids=()
ceph_dir=""
mounts=()
cleanup() {
  local status=$? pid m
  for pid in "${server_pids[@]}"; do kill -KILL "${pid}" 2>/dev/null || true; done
  if [[ -n "${ceph_dir}" && -f "${ceph_dir}/pids" ]]; then
    tools/ceph/stop_cluster.sh "${ceph_dir}" >/dev/null 2>&1 || true
  fi
  for (( i = ${#mounts[@]} - 1; i >= 0; i-- )); do
    m="${mounts[i]}"
    if mountpoint -q "${m}"; then umount "${m}" || umount -l "${m}" || true; fi
  done
  if [[ -n "${tmp}" && -d "${tmp}" ]]; then
    # Never remove a tree something is still mounted under (a /dev bind would lose the host's).
    if findmnt -rn -o TARGET | grep -q "^${tmp}/"; then
      log "left ${tmp} in place: something is still mounted under it"
      status=1
    else
      rm -rf "${tmp}"
    fi
  fi
  if (( status != 0 )); then log "failed after $((SECONDS - started_at)) s"; fi
  exit "${status}"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
tmp="$(mktemp -d "${TMPDIR:-/tmp}/blockstore-image.XXXXXX")"

# --- What the Dockerfile says the runtime image is.
readonly dockerfile="deploy/Dockerfile"
runtime="$(sed -n '/^FROM debian:bookworm-slim AS runtime$/,$p' "${dockerfile}")"
[[ -n "${runtime}" ]] || die "${dockerfile} has no 'FROM debian:bookworm-slim AS runtime' stage"
# The runtime stage's packages: the words after `apt-get install` up to the next `&&` (as
# deploy/tests/dockerfile_runtime_test.sh reads them).
mapfile -t packages < <(tr '\n' ' ' <<<"${runtime}" | sed 's/\\ / /g' |
  grep -oP 'apt-get install \K.*?(?=&&)' | tr ' ' '\n' | grep -v '^-' | grep -v '^$')
(( ${#packages[@]} > 5 )) || die "no package list in ${dockerfile}'s runtime stage"
for p in librbd1 librados2; do
  printf '%s\n' "${packages[@]}" | grep -qx "${p}" || die "${dockerfile} does not install ${p}"
done
# instruction NAME: the argument of the runtime stage's last NAME instruction.
instruction() { sed -n "s/^$1 //p" <<<"${runtime}" | tail -n 1; }
df_user="$(instruction USER)"
df_entrypoint="$(instruction ENTRYPOINT)"
df_cmd="$(instruction CMD)"
df_volume="$(instruction VOLUME)"
df_expose="$(instruction EXPOSE)"
df_stopsignal="$(instruction STOPSIGNAL)"
for v in df_user df_entrypoint df_cmd df_volume df_expose df_stopsignal; do
  [[ -n "${!v}" ]] || die "${dockerfile}'s runtime stage has no ${v#df_} instruction"
done
uid="${df_user%%:*}"
gid="${df_user##*:}"
[[ "${uid}" =~ ^[0-9]+$ && "${gid}" =~ ^[0-9]+$ && "${uid}" != 0 ]] ||
  die "expected a numeric non-root USER uid:gid in ${dockerfile}, got '${df_user}'"
# The Debian images' PATH (a runtime gives the process only the image's environment).
readonly image_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

step "tools"
needed=()
for tool in mmdebstrap:mmdebstrap buildah:buildah skopeo:skopeo jq:jq strip:binutils \
            chroot:coreutils findmnt:util-linux; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || needed+=("${tool##*:}")
done
if (( ${#needed[@]} > 0 )); then
  log "installing ${needed[*]}"
  bounded "${kAptSeconds}" "apt-get update" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive bounded "${kAptSeconds}" "apt-get install ${needed[*]}" \
    apt-get install -y -qq --no-install-recommends "${needed[@]}"
fi
log "mmdebstrap $(dpkg-query -W -f='${Version}' mmdebstrap), $(buildah --version)," \
    "$(skopeo --version)"

step "blockstored and blockctl"
if [[ -z "${blockstored_in}" ]]; then
  read -r -a bazel_startup <<<"${BAZEL_STARTUP_FLAGS:-}"
  read -r -a bazel_flags <<<"${BAZEL_FLAGS:-}"
  bazel=("${BAZEL:-bazel}" "${bazel_startup[@]}")
  bounded "${kBazelSeconds}" "bazel build" "${bazel[@]}" build -c opt "${bazel_flags[@]}" \
    //server:blockstored //client:blockctl
  bin="$(timeout 300 "${bazel[@]}" info -c opt "${bazel_flags[@]}" bazel-bin 2>/dev/null)" ||
    die "bazel info bazel-bin failed"
  blockstored_in="${bin}/server/blockstored"
  blockctl_in="${bin}/client/blockctl"
fi
[[ -x "${blockstored_in}" && -x "${blockctl_in}" ]] ||
  die "no executable ${blockstored_in} or ${blockctl_in}"
# The Dockerfile's build stage strips the binary it copies.
strip -o "${tmp}/blockstored" "${blockstored_in}"
cp "${blockctl_in}" "${tmp}/blockctl"

step "root file system (mmdebstrap)"
# The package sources apt uses here, each entry for bookworm's suites (a third-party source
# for another distribution has no place in the image).
mkdir "${tmp}/sources"
shopt -s nullglob
list_files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
deb822_files=(/etc/apt/sources.list.d/*.sources)
shopt -u nullglob
for f in "${list_files[@]}"; do
  if [[ -f "${f}" ]]; then grep -E '^\s*deb\s.*\sbookworm(-[a-z]+)?\s' "${f}" || true; fi
done > "${tmp}/sources/host.list"
for f in "${deb822_files[@]}"; do
  # Stanzas (blank-line separated) whose Suites name a bookworm suite.
  awk 'BEGIN { RS = ""; ORS = "\n\n" } /(^|\n)Suites:[^\n]*[ \t]bookworm(-[a-z]+)?([ \t]|\n|$)/' \
    "${f}"
done > "${tmp}/sources/host.sources"
mirrors=()
for f in "${tmp}/sources/host.list" "${tmp}/sources/host.sources"; do
  [[ -s "${f}" ]] && mirrors+=("${f}")
done
(( ${#mirrors[@]} > 0 )) ||
  die "apt has no source for bookworm configured (/etc/apt/sources.list{,.d/})"
rootfs="${tmp}/rootfs"
include="$(IFS=,; echo "${packages[*]}")"
# As bookworm-slim: no manual pages, documentation (but copyright files) or translations.
bounded "${kRootfsSeconds}" "mmdebstrap" mmdebstrap --variant=minbase --mode=root \
  --include="${include}" \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --logfile="${tmp}/mmdebstrap.log" \
  bookworm "${rootfs}" "${mirrors[@]}"
for p in "${packages[@]}"; do
  # shellcheck disable=SC2016  # dpkg-query's format, not the shell's
  chroot "${rootfs}" dpkg-query -W -f='${Status}\n' "${p}" 2>/dev/null |
    grep -q 'install ok installed' || die "${p} is not installed in the root file system"
done
# The Dockerfile's user, group and /data.
chroot "${rootfs}" groupadd --system --gid "${gid}" blockstore
# (useradd warns that a system uid is above SYS_UID_MAX, as it does in the Dockerfile.)
chroot "${rootfs}" useradd --system --uid "${uid}" --gid "${gid}" --home-dir /nonexistent \
  --no-create-home --shell /usr/sbin/nologin blockstore 2> "${tmp}/useradd.err" ||
  die "useradd: $(cat "${tmp}/useradd.err")"
install -d -o "${uid}" -g "${gid}" -m 0750 "${rootfs}/data"
install -m 0755 "${tmp}/blockstored" "${rootfs}/usr/local/bin/blockstored"
# What a runtime provides is not part of an image: the devices mmdebstrap made, and the
# build machine's host name and resolver.
find "${rootfs}/dev" -mindepth 1 -delete
rm -f "${rootfs}/etc/hostname" "${rootfs}/etc/resolv.conf"
packages_in_image="$(chroot "${rootfs}" dpkg-query -W | wc -l)"
rootfs_kib="$(du -sk "${rootfs}" | cut -f1)"
log "${packages_in_image} packages, $((rootfs_kib / 1024)) MiB (the Dockerfile's" \
    "${#packages[@]} and what minbase and they depend on)"

step "OCI image (buildah)"
# A private store under ${tmp} (vfs: plain directories, no overlay mount to leave behind).
buildah=(buildah --root "${tmp}/storage" --runroot "${tmp}/run" --storage-driver vfs)
name="${tag%%:*}"
version="${tag##*:}"
ctr="$(timeout "${kBuildahSeconds}" "${buildah[@]}" from --name "${name}-build" scratch)" ||
  die "buildah from scratch"
mnt="$(timeout "${kBuildahSeconds}" "${buildah[@]}" mount "${ctr}")" || die "buildah mount"
bounded "${kBuildahSeconds}" "copy the root file system" cp -a "${rootfs}/." "${mnt}/"
bounded "${kBuildahSeconds}" "buildah umount" "${buildah[@]}" umount "${ctr}" >/dev/null
revision="$(git describe --always --dirty 2>/dev/null || echo unknown)"
config=(--user "${df_user}" --entrypoint "${df_entrypoint}" --cmd "${df_cmd}"
        --stop-signal "${df_stopsignal}" --env "PATH=${image_path}"
        --label "org.opencontainers.image.title=${name}"
        --label "org.opencontainers.image.version=${version}"
        --label "org.opencontainers.image.revision=${revision}"
        --created-by "tools/image/build_image.sh (mmdebstrap bookworm minbase + deploy/Dockerfile's runtime packages)")
# EXPOSE 7420 means 7420/tcp (as docker build records it).
for port in ${df_expose}; do
  [[ "${port}" == */* ]] || port="${port}/tcp"
  config+=(--port "${port}")
done
while read -r v; do config+=(--volume "${v}"); done < <(jq -r '.[]' <<<"${df_volume}")
bounded "${kBuildahSeconds}" "buildah config" "${buildah[@]}" config "${config[@]}" "${ctr}"
bounded "${kBuildahSeconds}" "buildah commit" "${buildah[@]}" commit --quiet --format oci \
  --rm "${ctr}" "${tag}" >/dev/null
mkdir -p "${out_dir}"
archive="${out_dir}/${name}-${version}.oci.tar"
rm -f "${archive}"
bounded "${kBuildahSeconds}" "buildah push" "${buildah[@]}" push --quiet \
  --digestfile "${tmp}/digest" "${tag}" "oci-archive:${archive}:${tag}"
digest="$(cat "${tmp}/digest")"
echo "${digest}" > "${out_dir}/${name}-${version}.digest"

step "image: manifest, config and blobs"
inspect="$(timeout "${kBuildahSeconds}" skopeo inspect "oci-archive:${archive}")" ||
  die "skopeo inspect"
image_config="$(timeout "${kBuildahSeconds}" skopeo inspect --config "oci-archive:${archive}")" ||
  die "skopeo inspect --config"
[[ "$(jq -r .Digest <<<"${inspect}")" == "${digest}" ]] ||
  die "skopeo's digest $(jq -r .Digest <<<"${inspect}") is not buildah's ${digest}"
# expect_config WHAT JQ EXPECTED: the image config's JQ equals the Dockerfile's EXPECTED.
expect_config() {
  local got
  got="$(jq -c "$2" <<<"${image_config}")"
  [[ "${got}" == "$3" ]] || die "the image's $1 is ${got}, the Dockerfile's $3"
}
expect_config USER .config.User "\"${df_user}\""
expect_config ENTRYPOINT .config.Entrypoint "$(jq -c . <<<"${df_entrypoint}")"
expect_config CMD .config.Cmd "$(jq -c . <<<"${df_cmd}")"
expect_config STOPSIGNAL .config.StopSignal "\"${df_stopsignal}\""
expect_config EXPOSE '.config.ExposedPorts | keys' \
  "$(for p in ${df_expose}; do
      if [[ "${p}" == */* ]]; then echo "${p}"; else echo "${p}/tcp"; fi
    done | jq -R . | jq -cs 'sort')"
expect_config VOLUME '.config.Volumes | keys' "$(jq -c 'sort' <<<"${df_volume}")"
expect_config OS .os '"linux"'
# The archive as a registry would receive it: every blob matches its digest.
oci="${tmp}/oci"
mkdir "${oci}"
tar -xf "${archive}" -C "${oci}"
blob() { echo "${oci}/blobs/${1%%:*}/${1#*:}"; }
manifest_digest="$(jq -r '.manifests[0].digest' "${oci}/index.json")"
[[ "${manifest_digest}" == "${digest}" ]] || die "index.json names ${manifest_digest}"
mapfile -t blobs < <(jq -r '.config.digest, .layers[].digest' "$(blob "${digest}")")
for d in "${digest}" "${blobs[@]}"; do
  [[ "sha256:$(sha256sum "$(blob "${d}")" | cut -d' ' -f1)" == "${d}" ]] ||
    die "blob ${d} does not match its digest"
done
layers_bytes="$(jq '[.layers[].size] | add' "$(blob "${digest}")")"
archive_bytes="$(stat -c %s "${archive}")"

step "image: unpacked and run (chroot)"
# The layers, unpacked as a runtime unpacks them, are what runs here, not ${rootfs}.
image_root="${tmp}/image-root"
mkdir "${image_root}"
while read -r layer media; do
  case "${media}" in
    *tar+gzip) tar --numeric-owner -xpzf "$(blob "${layer}")" -C "${image_root}" ;;
    *tar) tar --numeric-owner -xpf "$(blob "${layer}")" -C "${image_root}" ;;
    *) die "layer ${layer} has media type ${media}" ;;
  esac
done < <(jq -r '.layers[] | "\(.digest) \(.mediaType)"' "$(blob "${digest}")")
[[ "$(stat -c '%u:%g %a' "${image_root}/data")" == "${uid}:${gid} 750" ]] ||
  die "/data in the image is $(stat -c '%u:%g %a' "${image_root}/data"), not ${uid}:${gid} 750"
grep -q "^blockstore:x:${uid}:${gid}:" "${image_root}/etc/passwd" ||
  die "the image's /etc/passwd has no blockstore user ${uid}"
# A runtime's mounts: a fresh proc, and a /dev with the OCI runtime's default devices.
mount -t proc proc "${image_root}/proc"
mounts+=("${image_root}/proc")
mount -t tmpfs -o nosuid,mode=755,size=1m tmpfs "${image_root}/dev"
mounts+=("${image_root}/dev")
for dev in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
  IFS=: read -r d major minor <<<"${dev}"
  mknod -m 666 "${image_root}/dev/${d}" c "${major}" "${minor}"
done
ln -s /proc/self/fd "${image_root}/dev/fd"
mkdir "${image_root}/dev/shm" && chmod 1777 "${image_root}/dev/shm"
# blockctl is no part of the image; it joins the unpacked copy only to talk to the server.
install -m 0755 "${tmp}/blockctl" "${image_root}/usr/local/bin/blockctl"
entrypoint="$(jq -r '.config.Entrypoint[0]' <<<"${image_config}")"
mapfile -t image_cmd < <(jq -r '.config.Cmd[]' <<<"${image_config}")
# in_image COMMAND...: runs COMMAND in the image as its USER, with the image's PATH only.
in_image() {
  timeout --kill-after=5 "${kCommandSeconds}" env -i "PATH=${image_path}" \
    chroot --userspec="${df_user}" "${image_root}" "$@"
}

ldd_out="$(in_image ldd "${entrypoint}")" || die "ldd ${entrypoint} in the image failed"
if grep -q 'not found' <<<"${ldd_out}"; then
  die "libraries missing in the image: $(grep 'not found' <<<"${ldd_out}" | tr -s '\t ' ' ')"
fi
grep -q 'librbd.so.1 => /' <<<"${ldd_out}" || die "ldd does not resolve librbd.so.1"
log "ldd: $(grep -c '=> /' <<<"${ldd_out}") libraries resolved, none missing; $(grep -o \
  'librbd.so.1 => [^ ]*' <<<"${ldd_out}")"
help_out="$(in_image "${entrypoint}" --help 2>&1)" || true
if ! grep -q -- '--store' <<<"${help_out}" || ! grep -q -- '--ceph_conf' <<<"${help_out}"; then
  die "blockstored --help in the image printed no --store/--ceph_conf: ${help_out:0:400}"
fi
log "blockstored --help: $(grep -c -- '--' <<<"${help_out}") flag lines"

# start_server NAME ARGS...: blockstored in the image; sets `address` and `metrics`.
start_server() {
  local name="$1" i
  shift
  env -i "PATH=${image_path}" chroot --userspec="${df_user}" "${image_root}" \
    "${entrypoint}" "$@" > "${tmp}/${name}.out" 2> "${tmp}/${name}.err" &
  server_pid=$!
  server_pids+=("${server_pid}")
  for (( i = 0; i < kServerStartTenths; i++ )); do
    grep -q '^blockstored listening on ' "${tmp}/${name}.out" && break
    kill -0 "${server_pid}" 2>/dev/null || break
    sleep 0.1
  done
  address="$(sed -n 's/^blockstored listening on //p' "${tmp}/${name}.out")"
  [[ -n "${address}" ]] ||
    die "blockstored ${name} printed no listening line; stderr: $(tail -n 5 "${tmp}/${name}.err")"
  # "blockstored metrics on HOST:PORT/metrics"
  metrics="$(sed -n 's|^blockstored metrics on \([^/ ]*\).*|\1|p' "${tmp}/${name}.out")"
}
# stop_server NAME: SIGTERM; it must exit 0.
stop_server() {
  local status=0 i
  kill -TERM "${server_pid}"
  for (( i = 0; i < kServerStopTenths; i++ )); do
    kill -0 "${server_pid}" 2>/dev/null || break
    sleep 0.1
  done
  wait "${server_pid}" || status=$?
  (( status == 0 )) ||
    die "blockstored $1 exited ${status} after SIGTERM; stderr: $(tail -n 5 "${tmp}/$1.err")"
}
# blockctl ARGS...: blockctl in the image against ${address}; its stderr in blockctl.err.
blockctl() {
  in_image /usr/local/bin/blockctl --server="${address}" --timeout=30s "$@" \
    2> "${tmp}/blockctl.err" || { cat "${tmp}/blockctl.err" >&2; return 1; }
}
# volume_round_trip NAME: create, write a page, read it back, list.
volume_round_trip() {
  head -c 4096 /dev/urandom > "${image_root}/tmp/page"
  chmod 0644 "${image_root}/tmp/page"
  blockctl create "$1" 1M >/dev/null || die "blockctl create $1"
  blockctl write "$1" 0 /tmp/page >/dev/null || die "blockctl write $1"
  blockctl read "$1" 0 1 /tmp/read >/dev/null || die "blockctl read $1"
  cmp -s "${image_root}/tmp/page" "${image_root}/tmp/read" || die "$1: read back other bytes"
  blockctl list | grep -q "^$1 " || die "blockctl list does not show $1"
  rm -f "${image_root}/tmp/page" "${image_root}/tmp/read"
}

# The image's CMD with loopback addresses in place of 0.0.0.0 (a fixed port could be taken).
args=()
for a in "${image_cmd[@]}"; do
  case "${a}" in
    --listen=*) args+=(--listen=127.0.0.1:0) ;;
    --metrics_listen=*) args+=(--metrics_listen=127.0.0.1:0) ;;
    *) args+=("${a}") ;;
  esac
done
start_server dir "${args[@]}"
volume_round_trip smoke
[[ -n "$(find "${image_root}/data" -user "${uid}" -type f | head -n 1)" ]] ||
  die "the volume is not in /data, owned by ${uid}"
[[ -n "${metrics}" ]] || die "blockstored printed no metrics address"
# shellcheck disable=SC2016  # expanded by the inner bash
scrape="$(timeout 10 bash -c 'exec 3<>"/dev/tcp/${1%:*}/${1##*:}"
  printf "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n" >&3; cat <&3' _ "${metrics}")" ||
  die "GET /metrics from ${metrics} failed"
grep -q '^blockstore_' <<<"${scrape}" || die "/metrics has no blockstore_ metric"
stop_server dir
log "the image's CMD (loopback addresses) served on ${address}: blockctl create, write, read" \
    "back, list; /metrics answered; exit 0 on SIGTERM"

rbd_out="$(in_image "${entrypoint}" --store=rbd --ceph_conf=/nonexistent/ceph.conf \
  --listen=127.0.0.1:0 --metrics_listen= 2>&1)" && die "--store=rbd with no ceph.conf started"
if grep -qi -e 'error while loading shared libraries' -e 'symbol lookup error' <<<"${rbd_out}"
then
  die "--store=rbd: the dynamic linker failed: ${rbd_out}"
fi
grep -q 'ceph' <<<"${rbd_out}" || die "--store=rbd with no ceph.conf: ${rbd_out:0:400}"
log "--store=rbd, no ceph.conf: $(grep -m1 -i 'ceph' <<<"${rbd_out}" | cut -c1-200)"

ceph_result="skipped (--ceph=no)"
if [[ "${ceph_mode}" != no ]]; then
  step "image: --store=rbd against a throwaway Ceph cluster"
  ceph_dir="${tmp}/ceph"
  status=0
  timeout "${kClusterSeconds}" tools/ceph/start_cluster.sh --owner-pid $$ "${ceph_dir}" \
    > "${tmp}/ceph.env" 2> "${tmp}/ceph.err" || status=$?
  if (( status == 77 )) && [[ "${ceph_mode}" == auto ]]; then
    ceph_result="skipped: Ceph is not installed (tools/install_deps.sh installs it)"
    log "${ceph_result}"
  elif (( status != 0 )); then
    die "the test cluster did not start (status ${status}): $(tail -n 5 "${tmp}/ceph.err")"
  else
    cluster_conf="$(sed -n 's/^export CEPH_CONF=//p' "${tmp}/ceph.env")"
    mon_host="$(timeout 30 ceph-conf -c "${cluster_conf}" --lookup mon_host)"
    # deploy/k8s-rbd's ceph.conf and keyring where its pod mounts them, the test cluster's
    # monitors in place of Rook's (the one line deploy/README.md says to fill). The cluster
    # has no cephx, so the keyring's key is not checked.
    install -d "${image_root}/etc/blockstore/ceph" "${image_root}/etc/blockstore/ceph-keyring"
    sed "s|^mon_host = ROOK_MON_ENDPOINTS$|mon_host = ${mon_host}|" deploy/k8s-rbd/ceph.conf \
      > "${image_root}/etc/blockstore/ceph/ceph.conf"
    grep -qxF "mon_host = ${mon_host}" "${image_root}/etc/blockstore/ceph/ceph.conf" ||
      die "deploy/k8s-rbd/ceph.conf has no 'mon_host = ROOK_MON_ENDPOINTS' line"
    timeout 30 ceph-authtool --create-keyring --gen-key -n client.admin \
      "${image_root}/etc/blockstore/ceph-keyring/keyring" >/dev/null
    chmod 0644 "${image_root}/etc/blockstore/ceph-keyring/keyring"
    start_server rbd --store=rbd --ceph_conf=/etc/blockstore/ceph/ceph.conf --rbd_pool=rbd \
      --listen=127.0.0.1:0 --metrics_listen=
    volume_round_trip smoke-rbd
    timeout 60 rbd --conf "${cluster_conf}" -p rbd ls | grep -qx smoke-rbd ||
      die "the volume smoke-rbd is no RBD image in the pool"
    blockctl delete smoke-rbd >/dev/null || die "blockctl delete smoke-rbd"
    stop_server rbd
    ceph_result="passed: the volume was RBD image rbd/smoke-rbd (through the image's librbd)"
    log "--store=rbd in the image on ${address}: create, write, read back, list, the image" \
        "in the pool, delete; exit 0 on SIGTERM"
  fi
fi
step ""
timings+=("$((SECONDS - started_at)) s  in all")

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
cat <<SUMMARY
image:    ${archive} (oci-archive, ${tag}, revision ${revision})
digest:   ${digest}
size:     $(mib "${archive_bytes}") archive, $(mib "${layers_bytes}") compressed layer, \
$(mib $((rootfs_kib * 1024))) unpacked; ${packages_in_image} Debian packages
platform: $(jq -r '"\(.Os)/\(.Architecture)"' <<<"${inspect}"), $(jq '.Layers | length' <<<"${inspect}") \
layer, created $(jq -r .Created <<<"${inspect}") (skopeo inspect)
config:   user $(jq -r .config.User <<<"${image_config}"), entrypoint \
$(jq -c .config.Entrypoint <<<"${image_config}"), cmd $(jq -c .config.Cmd <<<"${image_config}"),
          ports $(jq -c '.config.ExposedPorts | keys' <<<"${image_config}"), volumes \
$(jq -c '.config.Volumes | keys' <<<"${image_config}"), stop signal \
$(jq -r .config.StopSignal <<<"${image_config}") (as deploy/Dockerfile)
checks:   ldd (none missing, librbd resolved), --help, the CMD served blockctl and /metrics
          and exited 0 on SIGTERM, --store=rbd without ceph.conf failed on the file
ceph:     ${ceph_result}
timings:
$(printf '  %s\n' "${timings[@]}")
SUMMARY
