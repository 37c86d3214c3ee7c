"""Repository rule for Debian's librbd and librados (the RBD store's client libraries).

Like tools/build/system_libs.bzl, it turns system libraries into a cc_library, but Debian ships
no pkg-config file for librbd or librados, so the target links them by name; the headers
(rbd/librbd.h, rados/librados.h) are in /usr/include. The rule checks that the headers are
there, so a machine without librbd-dev fails with the set-up command instead of a missing
include deep in a compile. Only targets that depend on @system_ceph need the packages.
"""

_HEADERS = ["rbd/librbd.h", "rados/librados.h"]

def _system_ceph_impl(ctx):
    for header in _HEADERS:
        if not ctx.path("/usr/include/" + header).exists:
            fail(("/usr/include/%s not found: librbd-dev is not installed. Run " +
                  "tools/install_deps.sh (the README's set-up command).") % header)
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)
    ctx.file("BUILD.bazel", "\n".join([
        'package(default_visibility = ["//visibility:public"])',
        "",
        "# librbd's C API (rbd/librbd.h) and the librados it is used with.",
        "cc_library(",
        '    name = "rbd",',
        '    linkopts = ["-lrbd", "-lrados"],',
        ")",
        "",
    ]))

system_ceph = repository_rule(
    implementation = _system_ceph_impl,
    local = True,
    doc = "A cc_library for Debian's librbd and librados, linked by name (no pkg-config files).",
)
