"""A writeback rule test and its twin over Ceph."""

def rule_test_with_rbd_twin(name, srcs, deps, size = "medium"):
    """Defines `name`, on the fake and faulty backends, and its twin NAME_rbd_test.

    The twin builds the same sources with every FakeIoBackend of the binary over a real device:
    an RBD image per device on a test cluster the binary starts (fake_io_backend.h, "real
    device"); the test still decides every completion. It is kept out of the sanitizer runs
    (tags no_asan, no_tsan): the same code as the plain run, which they cover, plus Ceph's
    libraries.

    Args:
      name: the plain test's name, ending in _test.
      srcs: the test's sources.
      deps: the plain test's dependencies.
      size: the plain test's size (the twin is medium: it starts a cluster).
    """
    if not name.endswith("_test"):
        fail("rule_test_with_rbd_twin: %s does not end in _test" % name)
    native.cc_test(name = name, size = size, srcs = srcs, deps = deps)
    native.cc_test(
        name = name[:-len("_test")] + "_rbd_test",
        size = "medium",
        srcs = srcs,
        data = ["//tools/ceph:cluster_scripts"],
        tags = [
            "no_asan",
            "no_tsan",
        ],
        deps = deps + ["//server/io/testing:rbd_backing_environment"],
    )
