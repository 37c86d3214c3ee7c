"""Repository rule that turns Debian's pkg-config modules into cc_library targets.

Headers live in /usr/include, so each target only carries the flags pkg-config reports.
Libraries without a .pc file (gRPC reflection, benchmark_main) are linked by name.
"""

# target name -> (pkg-config modules, extra linkopts)
_LIBS = {
    "absl": ([
        "absl_base",
        "absl_flags",
        "absl_flags_parse",
        "absl_flags_usage",
        "absl_hash",
        "absl_random_random",
        "absl_status",
        "absl_statusor",
        "absl_strings",
        "absl_synchronization",
        "absl_time",
        "absl_raw_hash_set",
    ], []),
    "protobuf": (["protobuf"], []),
    "grpcpp": (["grpc++", "grpc"], ["-lgrpc++_reflection"]),
    "uring": (["liburing"], []),
    "prometheus": (["prometheus-cpp-pull", "prometheus-cpp-core"], []),
    "glog": (["libglog"], []),
    "gtest": (["gtest"], []),
    "gtest_main": (["gtest_main", "gmock"], []),
    "gmock": (["gmock"], []),
    "benchmark": (["benchmark"], ["-lpthread"]),
    # SHA-256 of bearer tokens (server/security/access_tokens.cc).
    "crypto": (["libcrypto"], []),
}

def _pkg_config(ctx, flag, modules):
    result = ctx.execute(["pkg-config", flag] + modules)
    if result.return_code != 0:
        fail("pkg-config %s %s failed: %s\nRun the README's set-up command to install the packages." %
             (flag, " ".join(modules), result.stderr))
    return [f for f in result.stdout.strip().split(" ") if f]

def _system_libs_impl(ctx):
    build = ['package(default_visibility = ["//visibility:public"])', ""]
    for name, (modules, extra) in _LIBS.items():
        cflags = _pkg_config(ctx, "--cflags", modules)
        libs = _pkg_config(ctx, "--libs", modules) + extra
        build.append("cc_library(")
        build.append("    name = %r," % name)
        # -D flags become `defines` so they reach every dependent, as pkg-config intends.
        build.append("    defines = %r," % [f[2:] for f in cflags if f.startswith("-D")])
        build.append("    copts = %r," % [f for f in cflags if not f.startswith("-D")])
        build.append("    linkopts = %r," % libs)
        build.append(")")
        build.append("")
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)
    ctx.file("BUILD.bazel", "\n".join(build))

system_libs = repository_rule(
    implementation = _system_libs_impl,
    local = True,
    doc = "cc_library targets for Debian's system libraries, found with pkg-config.",
)
