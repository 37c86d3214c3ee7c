#!/usr/bin/python3
"""Runs a program under a seccomp profile the way a container runtime applies a Localhost one.

    seccomp_exec.py PROFILE_JSON PROGRAM [ARGS...]

Compiles the profile's allow list to a BPF filter with seccomp_profile_test.py's compiler
(same simplifications: argument conditions count as allowed), installs it with no_new_privs,
then execs PROGRAM, so PROGRAM's PID is this process's. Used by rbd_variant_test.sh to run
blockstored, librbd included, under deploy/seccomp/io-uring.json.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seccomp_profile_test  # noqa: E402  (beside this file)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: seccomp_exec.py PROFILE_JSON PROGRAM [ARGS...]")
    with open(sys.argv[1]) as f:
        profile = json.load(f)
    with open(seccomp_profile_test.UNISTD) as f:
        numbers = {m.group(1): int(m.group(2))
                   for m in re.finditer(r"#define __NR_(\w+)\s+(\d+)", f.read())}
    seccomp_profile_test.installer(seccomp_profile_test.compile_profile(profile, numbers))()
    os.execv(sys.argv[2], sys.argv[2:])


if __name__ == "__main__":
    main()
