#!/usr/bin/python3
"""blockstored under deploy/seccomp/io-uring.json, and without its io_uring calls.

Method: the profile's allow list is compiled to a seccomp BPF filter (x86_64 syscall numbers
from the kernel headers) and installed in the child before it execs blockstored, the way a
container runtime applies a Localhost profile. Argument filters (clone without namespace
flags, personality values) are simplified to "allowed": this checks the allow list, not the
argument conditions. Then:
  1. the profile as shipped, --io_backend=uring: blockstored starts and serves writes, flushes
     and reads from blockctl, and exits 0 on SIGTERM (io_uring and everything else it needs
     are allowed);
  2. the profile without io_uring_*, --io_backend=auto (a runtime default profile): it logs
     "io_uring unavailable (likely seccomp)", falls back to the sync backend and serves the
     same load;
  3. the profile without io_uring_*, --io_backend=uring: it refuses to start (exit 2).
Case 1 is skipped, saying so, when io_uring does not work here even without a filter.
"""

import ctypes
import json
import os
import re
import subprocess
import sys
import tempfile
import time

UNISTD = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
AUDIT_ARCH_X86_64 = 0xC000003E
BPF_LD_W_ABS, BPF_JEQ_K, BPF_JGE_K, BPF_RET_K = 0x20, 0x15, 0x35, 0x06
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
IO_URING = {"io_uring_setup", "io_uring_enter", "io_uring_register"}

failures = []


def fail(message):
    print("FAIL: " + message, flush=True)
    failures.append(message)


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def compile_profile(profile, numbers, drop=frozenset()):
    """BPF for x86_64: allowed names -> ALLOW, ERRNO rules -> their errno, else defaultErrnoRet."""
    default_errno = profile.get("defaultErrnoRet", 1)
    verdicts = {}
    for rule in profile["syscalls"]:
        for name in rule["names"]:
            if name in drop or name not in numbers:
                continue
            if rule["action"] == "SCMP_ACT_ALLOW":
                verdicts[numbers[name]] = RET_ALLOW
            elif rule["action"] == "SCMP_ACT_ERRNO":
                verdicts[numbers[name]] = RET_ERRNO | rule.get("errnoRet", default_errno)
    program = [
        (BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (BPF_RET_K, 0, 0, RET_ERRNO | default_errno),
        (BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        (BPF_JGE_K, 0, 1, 0x40000000),  # x32 ABI
        (BPF_RET_K, 0, 0, RET_ERRNO | default_errno),
    ]
    for nr, verdict in sorted(verdicts.items()):
        program.append((BPF_JEQ_K, 0, 1, nr))
        program.append((BPF_RET_K, 0, 0, verdict))
    program.append((BPF_RET_K, 0, 0, RET_ERRNO | default_errno))
    return program


def installer(program):
    """A preexec_fn that installs `program` in the child, after fork and before exec."""
    filters = (SockFilter * len(program))(*[SockFilter(*i) for i in program])
    fprog = SockFprog(len(program), filters)
    libc = ctypes.CDLL(None, use_errno=True)

    def install():
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
        if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")
    return install


def start(blockstored, backend, data_dir, log_path, preexec):
    log = open(log_path, "w")
    process = subprocess.Popen(
        [blockstored, "--listen=127.0.0.1:0", "--metrics_listen=", "--io_backend=" + backend,
         "--data_dir=" + data_dir], stdout=subprocess.PIPE, stderr=log, text=True,
        preexec_fn=preexec)
    line = ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        line = process.stdout.readline()
        if line.startswith("blockstored listening on") or not line:
            break
    address = line.split()[-1] if line.startswith("blockstored listening on") else None
    return process, address


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            return process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
            return None
    return process.returncode


def load(blockctl, address, tmp, volume):
    data = os.path.join(tmp, "data.bin")
    with open(data, "wb") as f:
        f.write(os.urandom(1 << 20))
    for args in (["create", volume, "8M"], ["write", volume, "0", data], ["flush", volume],
                 ["read", volume, "0", "256", os.path.join(tmp, "back.bin")]):
        result = subprocess.run([blockctl, "--server=" + address, "--timeout=30s"] + args,
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            fail("blockctl %s: exit %d: %s" % (" ".join(args), result.returncode, result.stderr))
            return
    if open(os.path.join(tmp, "back.bin"), "rb").read() != open(data, "rb").read():
        fail("data read back differs from data written")


def case(name, blockstored, blockctl, tmp, backend, preexec, expect_log=None, expect_exit=None):
    work = os.path.join(tmp, name)
    os.makedirs(work)
    log_path = os.path.join(work, "blockstored.log")
    process, address = start(blockstored, backend, os.path.join(work, "data"), log_path, preexec)
    try:
        if expect_exit is not None:
            code = process.wait(timeout=30) if address is None else None
            if code != expect_exit:
                fail("%s: expected exit %d, got %s (address %s)" % (name, expect_exit, code,
                                                                    address))
            return
        if address is None:
            fail("%s: blockstored did not start: %s" % (name, open(log_path).read()[-2000:]))
            return
        load(blockctl, address, work, "v")
    finally:
        code = stop(process)
    text = open(log_path).read()
    if expect_log and expect_log not in text:
        fail("%s: log lacks %r:\n%s" % (name, expect_log, text[-2000:]))
    if code != 0:
        fail("%s: exit %s after SIGTERM:\n%s" % (name, code, text[-2000:]))
    if not failures:
        print("%s: ok" % name, flush=True)


def main():
    tmp = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp()
    blockstored = os.path.abspath("server/blockstored")
    blockctl = os.path.abspath("client/blockctl")
    profile = json.load(open("deploy/seccomp/io-uring.json"))
    numbers = {m.group(1): int(m.group(2))
               for m in re.finditer(r"#define __NR_(\w+)\s+(\d+)", open(UNISTD).read())}
    shipped = compile_profile(profile, numbers)
    without_uring = compile_profile(profile, numbers, drop=IO_URING)
    print("filters: %d and %d instructions" % (len(shipped), len(without_uring)), flush=True)

    probe, address = start(blockstored, "uring", os.path.join(tmp, "probe"),
                           os.path.join(tmp, "probe.log"), None)
    stop(probe)
    if address is None:
        print("io_uring does not work here even without a filter: case 1 skipped", flush=True)
    else:
        case("shipped-profile-uring", blockstored, blockctl, tmp, "uring", installer(shipped))
    case("runtime-default-auto", blockstored, blockctl, tmp, "auto", installer(without_uring),
         expect_log="io_uring unavailable (likely seccomp)")
    case("runtime-default-uring", blockstored, blockctl, tmp, "uring", installer(without_uring),
         expect_exit=2)


if __name__ == "__main__":
    try:
        main()
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        fail("%s: %s" % (type(e).__name__, e))
    if failures:
        print("%d failures" % len(failures))
        sys.exit(1)
    print("seccomp profile test passed")
