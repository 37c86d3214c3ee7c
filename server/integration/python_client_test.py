#!/usr/bin/python3
"""A client in a second language: Debian's python3-grpcio with the .proto compiled at test time.

Proof that the contract works for clients we did not write: it writes and reads a page, streams
writes, flushes, sees a bad input's status code, runs the grpc.health.v1 check and lists the
services through server reflection, against a server on a data directory and again against one
whose volumes are images of a throwaway Ceph pool (--store=rbd); then, against a server with
mutual TLS, an access policy
and bearer tokens (certificates made by openssl at test time), it is let in by its client
certificate or its token and refused without them. Needs python3-grpcio, python3-protobuf,
protobuf-compiler-grpc (grpc_python_plugin) and grpc-proto (health and reflection .proto files).

Usage (from Bazel): python_client_test.py PROTO_FILE BLOCKSTORED
"""

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

PROTO_FILE = None
BLOCKSTORED = None
GRPC_PROTO_DIR = "/usr/share/grpc-proto"  # Debian's grpc-proto package


def compile_protos(out_dir):
    """Generates *_pb2.py and *_pb2_grpc.py for blockstore, health and reflection."""
    proto_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(PROTO_FILE))))
    base = ["/usr/bin/protoc", "--python_out=" + out_dir, "--grpc_out=" + out_dir,
            "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin"]
    subprocess.run(base + ["-I" + proto_root, "blockstore/v1/blockstore.proto"], check=True,
                   timeout=60)
    # Their files sit under grpc/, which would shadow the grpc module itself: copy them to
    # other paths (the proto packages, and so the wire names, stay grpc.health.v1 and
    # grpc.reflection.v1alpha).
    if not os.path.isdir(GRPC_PROTO_DIR):
        raise RuntimeError(GRPC_PROTO_DIR + " is missing: install Debian's grpc-proto package "
                           "(tools/install_deps.sh)")
    copies = os.path.join(out_dir, "protos")
    for source, target in (("grpc/health/v1/health.proto", "health_v1/health.proto"),
                           ("grpc/reflection/v1alpha/reflection.proto",
                            "reflection_v1alpha/reflection.proto")):
        os.makedirs(os.path.join(copies, os.path.dirname(target)), exist_ok=True)
        shutil.copyfile(os.path.join(GRPC_PROTO_DIR, source), os.path.join(copies, target))
    subprocess.run(base + ["-I" + copies, "health_v1/health.proto",
                           "reflection_v1alpha/reflection.proto"], check=True, timeout=60)
    sys.path.insert(0, out_dir)


def openssl(*args):
    subprocess.run(["/usr/bin/openssl"] + list(args), check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_ca(directory):
    """A self-signed EC P-256 CA: (cert path, key path)."""
    cert, key = os.path.join(directory, "ca.pem"), os.path.join(directory, "ca.key")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=blockstore python test CA")
    return cert, key


def make_leaf(ca, directory, name, common_name, san, serial):
    """A certificate for server and client authentication signed by `ca`: (cert, key)."""
    cert, key = os.path.join(directory, name + ".pem"), os.path.join(directory, name + ".key")
    csr, ext = os.path.join(directory, name + ".csr"), os.path.join(directory, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n" % san)
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=" + common_name)
    openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-set_serial",
            str(serial), "-days", "2", "-out", cert, "-extfile", ext)
    return cert, key


def read(path):
    with open(path, "rb") as f:
        return f.read()


class Server:
    """blockstored on 127.0.0.1:0; the address is read from its first stdout line."""

    def __init__(self, data_dir, extra_flags=()):
        self.log = open(os.path.join(data_dir + ".log"), "wb")
        self.proc = subprocess.Popen(
            [BLOCKSTORED, "--listen=127.0.0.1:0", "--data_dir=" + data_dir, "--metrics_listen=",
             "--io_backend=auto"] + list(extra_flags),
            stdout=subprocess.PIPE, stderr=self.log)
        deadline = time.monotonic() + 60
        output = b""
        fd = self.proc.stdout.fileno()
        while b"\n" not in output:
            left = deadline - time.monotonic()
            if left <= 0:
                self.proc.kill()
                raise RuntimeError("blockstored did not print its address")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise RuntimeError("blockstored exited before serving")
                output += chunk
        line = output.split(b"\n")[0]
        prefix = b"blockstored listening on "
        assert line.startswith(prefix), line
        self.address = line[len(prefix):].strip().decode()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.log.close()
        return code


class PythonClientTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        import grpc  # noqa: F401  (fails early when python3-grpcio is missing)
        cls.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        os.makedirs(os.path.join(cls.tmp, "gen"))
        compile_protos(os.path.join(cls.tmp, "gen"))
        cls.server = Server(os.path.join(cls.tmp, "data"))
        cls.channel = grpc.insecure_channel(cls.server.address)
        grpc.channel_ready_future(cls.channel).result(timeout=30)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        code = cls.server.stop()
        assert code == 0, "blockstored exited with %d" % code

    def stub(self):
        from blockstore.v1 import blockstore_pb2_grpc
        return blockstore_pb2_grpc.BlockStoreStub(self.channel)

    def test_write_read_flush(self):
        import grpc
        from blockstore.v1 import blockstore_pb2 as pb
        stub = self.stub()
        info = stub.CreateVolume(pb.CreateVolumeRequest(name="py", size_bytes=1 << 20),
                                 timeout=30)
        self.assertEqual(info.page_size_bytes, 4096)
        self.assertEqual(info.page_count, 256)

        data = bytes(range(256)) * 16
        stub.WritePage(pb.WritePageRequest(volume="py", page_index=7, data=data), timeout=30)
        page = stub.ReadPage(pb.ReadPageRequest(volume="py", page_index=7), timeout=30)
        self.assertEqual(page.page_index, 7)
        self.assertEqual(page.data, data)

        # A WritePages stream: one response per request id.
        requests = [pb.WritePageRequest(volume="py", page_index=10 + i, data=bytes([i]) * 4096,
                                        request_id=100 + i) for i in range(5)]
        responses = list(stub.WritePages(iter(requests), timeout=30))
        self.assertEqual(sorted(r.request_id for r in responses), [100, 101, 102, 103, 104])
        self.assertTrue(all(r.code == 0 for r in responses))

        # A WritePageBatches stream: one result per write, whatever message carries it; the
        # bad write (page 256 is past the end) fails alone, the rest of its batch is taken.
        writes = [pb.WritePageRequest(volume="py", page_index=20 + i, data=bytes([50 + i]) * 4096,
                                      request_id=200 + i) for i in range(5)]
        writes.append(pb.WritePageRequest(volume="py", page_index=256, data=bytes(4096),
                                          request_id=299))
        batches = [pb.WritePageBatchRequest(writes=writes[:3]),
                   pb.WritePageBatchRequest(writes=writes[3:])]
        results = [r for message in stub.WritePageBatches(iter(batches), timeout=30)
                   for r in message.results]
        codes = {r.request_id: r.code for r in results}
        self.assertEqual(len(results), 6)
        self.assertEqual(codes, {200: 0, 201: 0, 202: 0, 203: 0, 204: 0,
                                 299: grpc.StatusCode.OUT_OF_RANGE.value[0]})
        failed = [r for r in results if r.request_id == 299][0]
        self.assertIn("page_index", failed.message)

        events = list(stub.Flush(pb.FlushRequest(volume="py", error_cursor=info.error_cursor),
                                 timeout=60))
        pages = [e.page for e in events if e.WhichOneof("event") == "page"]
        summaries = [e.summary for e in events if e.WhichOneof("event") == "summary"]
        self.assertEqual(len(summaries), 1)
        self.assertEqual(events[-1].WhichOneof("event"), "summary")
        self.assertEqual(summaries[0].code, 0)
        self.assertEqual(sorted(p.page_index for p in pages),
                         [7, 10, 11, 12, 13, 14, 20, 21, 22, 23, 24])
        self.assertTrue(all(p.code == 0 for p in pages))
        self.assertEqual(summaries[0].pages_written, 11)

        ranged = list(stub.ReadPages(pb.ReadPagesRequest(volume="py", first_page_index=10,
                                                         page_count=5), timeout=30))
        self.assertEqual([r.data for r in ranged], [bytes([i]) * 4096 for i in range(5)])
        batched = list(stub.ReadPages(pb.ReadPagesRequest(volume="py", first_page_index=20,
                                                          page_count=5), timeout=30))
        self.assertEqual([r.data for r in batched], [bytes([50 + i]) * 4096 for i in range(5)])

    def test_bad_input_gets_its_status_code(self):
        import grpc
        from blockstore.v1 import blockstore_pb2 as pb
        stub = self.stub()
        with self.assertRaises(grpc.RpcError) as caught:
            stub.WritePage(pb.WritePageRequest(volume="py-missing", page_index=0,
                                               data=b"x" * 4096), timeout=30)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.NOT_FOUND)
        with self.assertRaises(grpc.RpcError) as caught:
            stub.CreateVolume(pb.CreateVolumeRequest(name="../etc", size_bytes=4096), timeout=30)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertTrue(caught.exception.details().startswith("name:"),
                        caught.exception.details())

    def test_health_check(self):
        from health_v1 import health_pb2, health_pb2_grpc
        stub = health_pb2_grpc.HealthStub(self.channel)
        for service in ("", "blockstore.v1.BlockStore"):
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=30)
            self.assertEqual(response.status, health_pb2.HealthCheckResponse.SERVING, service)

    def test_reflection_lists_and_describes_the_service(self):
        from google.protobuf import descriptor_pb2
        from reflection_v1alpha import reflection_pb2, reflection_pb2_grpc
        stub = reflection_pb2_grpc.ServerReflectionStub(self.channel)
        requests = [reflection_pb2.ServerReflectionRequest(list_services=""),
                    reflection_pb2.ServerReflectionRequest(
                        file_containing_symbol="blockstore.v1.BlockStore")]
        responses = list(stub.ServerReflectionInfo(iter(requests), timeout=30))
        self.assertEqual(len(responses), 2)
        names = {s.name for s in responses[0].list_services_response.service}
        self.assertIn("blockstore.v1.BlockStore", names)
        self.assertIn("grpc.health.v1.Health", names)
        files = [descriptor_pb2.FileDescriptorProto.FromString(raw) for raw in
                 responses[1].file_descriptor_response.file_descriptor_proto]
        ours = [f for f in files if f.name == "blockstore/v1/blockstore.proto"]
        self.assertEqual(len(ours), 1, [f.name for f in files])
        methods = {m.name for m in ours[0].service[0].method}
        self.assertEqual(methods, {"CreateVolume", "DeleteVolume", "ListVolumes", "GetVolumeInfo",
                                   "WritePage", "WritePages", "WritePageBatches", "ReadPage",
                                   "ReadPages", "Flush", "LocateVolume", "ReadPageBatches"})


class RbdPythonClientTest(PythonClientTest):
    """Every test of PythonClientTest again, against blockstored --store=rbd on a throwaway
    single-node Ceph (tools/ceph/start_cluster.sh): the contract does not change with the store.
    Skipped, saying why, when Ceph is not installed (the script exits 77)."""

    @classmethod
    def setUpClass(cls):
        import grpc
        cls.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        cluster_dir = os.path.join(cls.tmp, "ceph")
        started = subprocess.run(
            ["tools/ceph/start_cluster.sh", "--owner-pid", str(os.getpid()), cluster_dir],
            stdout=subprocess.PIPE, timeout=300)
        if started.returncode == 77:
            raise unittest.SkipTest("Ceph is not installed (tools/install_deps.sh installs it)")
        if started.returncode != 0:
            raise RuntimeError("tools/ceph/start_cluster.sh failed with %d" % started.returncode)
        env = dict(line[len("export "):].split("=", 1)
                   for line in started.stdout.decode().splitlines()
                   if line.startswith("export "))
        cls.cluster_dir = env["BLOCKSTORE_CEPH_DIR"]
        os.makedirs(os.path.join(cls.tmp, "gen"))
        compile_protos(os.path.join(cls.tmp, "gen"))
        cls.server = Server(os.path.join(cls.tmp, "data"),
                            ["--store=rbd", "--ceph_conf=" + env["CEPH_CONF"]])
        cls.channel = grpc.insecure_channel(cls.server.address)
        grpc.channel_ready_future(cls.channel).result(timeout=30)

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            subprocess.run(["tools/ceph/stop_cluster.sh", cls.cluster_dir], timeout=120,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def test_locate_volume_names_this_server(self):
        from blockstore.v1 import blockstore_pb2 as pb
        stub = self.stub()
        stub.CreateVolume(pb.CreateVolumeRequest(name="py-rbd", size_bytes=1 << 20), timeout=30)
        located = stub.LocateVolume(pb.LocateVolumeRequest(volume="py-rbd"), timeout=30)
        self.assertTrue(located.served_here)
        self.assertEqual(located.owner, self.server.address)
        info = stub.GetVolumeInfo(pb.GetVolumeInfoRequest(volume="py-rbd"), timeout=30)
        self.assertEqual(info.io_backend, "rbd")


class SecurePythonClientTest(unittest.TestCase):
    """Mutual TLS, an access policy and a bearer token, from Python's grpc."""

    TOKEN = "python-s3cret"

    @classmethod
    def setUpClass(cls):
        import hashlib
        import grpc
        cls.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        os.makedirs(os.path.join(cls.tmp, "gen"))
        compile_protos(os.path.join(cls.tmp, "gen"))
        certs = os.path.join(cls.tmp, "certs")
        os.makedirs(certs)
        cls.ca = make_ca(certs)
        server = make_leaf(cls.ca, certs, "server", "blockstore", "DNS:localhost,IP:127.0.0.1", 1)
        cls.owner = make_leaf(cls.ca, certs, "owner", "py-owner", "URI:spiffe://test/py/owner", 2)
        cls.nobody = make_leaf(cls.ca, certs, "nobody", "py-nobody", "DNS:nobody.test", 3)
        tokens = os.path.join(cls.tmp, "tokens")
        with open(tokens, "w") as f:
            f.write("# NAME SHA256_HEX\npy-token %s\n"
                    % hashlib.sha256(cls.TOKEN.encode()).hexdigest())
        policy = os.path.join(cls.tmp, "policy.txtpb")
        with open(policy, "w") as f:
            f.write('rules { identities: "uri:spiffe://test/py/owner" volumes: "sec-*" '
                    'permissions: ADMIN permissions: READ permissions: WRITE }\n'
                    'rules { identities: "token:py-token" volumes: "sec-*" '
                    'permissions: READ }\n')
        cls.server = Server(os.path.join(cls.tmp, "data"), [
            "--tls_cert_file=" + server[0], "--tls_key_file=" + server[1],
            "--tls_client_ca_file=" + cls.ca[0], "--access_policy_file=" + policy,
            "--access_tokens_file=" + tokens])
        cls.channels = []

    @classmethod
    def tearDownClass(cls):
        for channel in cls.channels:
            channel.close()
        code = cls.server.stop()
        assert code == 0, "blockstored exited with %d" % code

    def stub_as(self, leaf):
        """A stub on a TLS channel of its own, with `leaf`'s certificate (None: without one)."""
        import grpc
        from blockstore.v1 import blockstore_pb2_grpc
        credentials = grpc.ssl_channel_credentials(
            root_certificates=read(self.ca[0]),
            private_key=read(leaf[1]) if leaf else None,
            certificate_chain=read(leaf[0]) if leaf else None)
        channel = grpc.secure_channel(self.server.address, credentials,
                                      options=[("grpc.use_local_subchannel_pool", 1)])
        self.channels.append(channel)
        return blockstore_pb2_grpc.BlockStoreStub(channel), channel

    def code_of(self, call, *args, **kwargs):
        import grpc
        try:
            call(*args, timeout=30, **kwargs)
        except grpc.RpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    def test_certificate_and_token_identities(self):
        import grpc
        from blockstore.v1 import blockstore_pb2 as pb
        owner, _ = self.stub_as(self.owner)
        owner.CreateVolume(pb.CreateVolumeRequest(name="sec-1", size_bytes=1 << 20), timeout=30)
        page = b"s" * 4096
        owner.WritePage(pb.WritePageRequest(volume="sec-1", page_index=0, data=page), timeout=30)

        nobody, _ = self.stub_as(self.nobody)
        # A certificate the CA signed but no rule names: refused, the page unchanged.
        self.assertEqual(self.code_of(nobody.ReadPage, pb.ReadPageRequest(volume="sec-1")),
                         grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(
            self.code_of(nobody.WritePage,
                         pb.WritePageRequest(volume="sec-1", page_index=0, data=b"n" * 4096)),
            grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(len(nobody.ListVolumes(pb.ListVolumesRequest(), timeout=30).volumes), 0)
        # Its token makes it token:py-token, which may READ.
        good = [("authorization", "Bearer " + self.TOKEN)]
        self.assertEqual(
            nobody.ReadPage(pb.ReadPageRequest(volume="sec-1"), metadata=good, timeout=30).data,
            page)
        self.assertEqual(
            self.code_of(nobody.WritePage,
                         pb.WritePageRequest(volume="sec-1", page_index=0, data=b"n" * 4096),
                         metadata=good),
            grpc.StatusCode.PERMISSION_DENIED)
        wrong = [("authorization", "Bearer not-" + self.TOKEN)]
        self.assertEqual(self.code_of(nobody.ReadPage, pb.ReadPageRequest(volume="sec-1"),
                                      metadata=wrong),
                         grpc.StatusCode.UNAUTHENTICATED)
        self.assertEqual(owner.ReadPage(pb.ReadPageRequest(volume="sec-1"), timeout=30).data,
                         page)

    def test_no_client_certificate_never_reaches_a_handler(self):
        import grpc
        from blockstore.v1 import blockstore_pb2 as pb
        anonymous, _ = self.stub_as(None)
        self.assertEqual(self.code_of(anonymous.ListVolumes, pb.ListVolumesRequest()),
                         grpc.StatusCode.UNAVAILABLE)

    def test_health_answers_any_certificate_the_ca_signed(self):
        from health_v1 import health_pb2, health_pb2_grpc
        _, channel = self.stub_as(self.nobody)
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="blockstore.v1.BlockStore"), timeout=30)
        self.assertEqual(response.status, health_pb2.HealthCheckResponse.SERVING)


if __name__ == "__main__":
    PROTO_FILE, BLOCKSTORED = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0], "-v"])
