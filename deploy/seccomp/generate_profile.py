#!/usr/bin/python3
"""Writes io-uring.json: a seccomp profile shaped like container runtimes' default ones, plus
io_uring_setup, io_uring_enter and io_uring_register, which those defaults block.

The allow list is every x86_64 system call the kernel headers name, minus those the runtimes'
defaults deny (privileged, host-wide or obsolete: mount, bpf, ptrace, keyctl, module loading,
clock setting, NUMA placement, ...; see DENIED). clone is allowed only without namespace flags;
clone3 fails with ENOSYS so glibc falls back to clone, as runtime defaults do. Syscall names
are resolved per architecture by the runtime, so the list also serves arm64.

Usage: generate_profile.py [unistd_64.h] > io-uring.json
"""

import json
import re
import sys

UNISTD = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"

# Denied by the runtime defaults (docs: "Significant syscalls blocked by the default
# profile"), and the newer mount API, which only CAP_SYS_ADMIN may use.
DENIED = {
    "_sysctl", "acct", "add_key", "afs_syscall", "bpf", "chroot", "clock_adjtime",
    "clock_settime", "create_module", "delete_module", "fanotify_init", "finit_module",
    "fsconfig", "fsmount", "fsopen", "fspick", "get_kernel_syms", "get_mempolicy",
    "getpmsg", "init_module", "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load",
    "keyctl", "lookup_dcookie", "mbind", "memfd_secret", "migrate_pages", "mount",
    "mount_setattr", "move_mount", "move_pages", "name_to_handle_at", "nfsservctl",
    "open_by_handle_at", "open_tree", "perf_event_open", "pidfd_getfd", "pivot_root",
    "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace", "putpmsg",
    "query_module", "quotactl", "quotactl_fd", "reboot", "request_key", "security",
    "set_mempolicy", "set_mempolicy_home_node", "setns", "settimeofday", "swapoff", "swapon",
    "syslog", "sysfs", "tuxcall", "umount2", "unshare", "uselib", "userfaultfd", "ustat",
    "vhangup", "vserver",
}
# Handled by their own rules below.
SPECIAL = {"clone", "clone3", "personality"}
IO_URING = ["io_uring_enter", "io_uring_register", "io_uring_setup"]
# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
# CLONE_NEWNET
CLONE_NAMESPACE_FLAGS = 0x7E020000


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else UNISTD
    with open(path) as f:
        names = sorted(set(re.findall(r"#define __NR_(\w+)\s+\d+", f.read())))
    if "io_uring_setup" not in names:
        sys.exit("%s predates io_uring" % path)
    allowed = [n for n in names if n not in DENIED and n not in SPECIAL and n not in IO_URING]
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64",
             "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        ],
        "syscalls": [
            {"names": allowed, "action": "SCMP_ACT_ALLOW"},
            {"names": IO_URING, "action": "SCMP_ACT_ALLOW",
             "comment": "blockstore's UringBackend; runtime default profiles deny these"},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0,
                       "op": "SCMP_CMP_MASKED_EQ"}],
             "comment": "threads and processes, but no new namespaces"},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
             "comment": "ENOSYS: glibc falls back to clone, whose flags can be checked"},
        ],
    }
    # One rule per permitted personality(2) value: query (0xffffffff), PER_LINUX, and the
    # Linux32 / UNAME26 variants the runtime defaults permit.
    for value in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF):
        profile["syscalls"].append(
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}]})
    json.dump(profile, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
