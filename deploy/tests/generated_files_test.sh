#!/bin/bash
# The committed dashboard JSON is what generate_dashboard.py writes, and the seccomp profile
# allows io_uring on top of a runtime-default-like allow list while still denying what
# runtimes deny.
set -euo pipefail
python="/usr/bin/python3"

"${python}" deploy/grafana/generate_dashboard.py > "${TEST_TMPDIR}/dashboard.json"
if ! diff -u deploy/grafana/blockstore-dashboard.json "${TEST_TMPDIR}/dashboard.json"; then
  echo "FAIL: regenerate: deploy/grafana/generate_dashboard.py > deploy/grafana/blockstore-dashboard.json"
  exit 1
fi

"${python}" - deploy/seccomp/io-uring.json <<'PY'
import json, sys
profile = json.load(open(sys.argv[1]))
assert profile["defaultAction"] == "SCMP_ACT_ERRNO", profile["defaultAction"]
allowed = set()
for rule in profile["syscalls"]:
    if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args"):
        allowed.update(rule["names"])
for name in ("io_uring_setup", "io_uring_enter", "io_uring_register", "read", "write",
             "pwritev", "preadv", "fdatasync", "openat", "epoll_wait", "futex", "mmap",
             "accept4", "eventfd2", "rt_sigtimedwait", "exit_group"):
    assert name in allowed, "not allowed: " + name
for name in ("mount", "bpf", "ptrace", "kexec_load", "init_module", "unshare", "setns",
             "keyctl", "userfaultfd", "perf_event_open", "clone3"):
    assert name not in allowed, "allowed but runtimes deny it: " + name
clone = [r for r in profile["syscalls"] if r["names"] == ["clone"]]
assert clone and clone[0]["args"][0]["op"] == "SCMP_CMP_MASKED_EQ", "clone must be filtered"
print("seccomp profile: %d syscalls allowed, io_uring included" % len(allowed))
PY
