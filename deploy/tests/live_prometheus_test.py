#!/usr/bin/python3
"""A real Prometheus scrapes a real blockstored under load, and the dashboard and alerts work.

Method: start blockstored on loopback (port 0) with the ConfigMap's flags (less TLS and the
access policy: plaintext on loopback), small dirty limits so writers hit them, and a temp data
directory; start Debian's /usr/bin/prometheus on loopback scraping it every second with the
alert rules loaded; run a bounded load with blockctl (two
volumes, 32 MiB written twice, reads, flushes, one NOT_FOUND call) while a poller reads
/metrics every 50 ms. Then, through Prometheus' HTTP API:
  - every dashboard expression (Grafana variables replaced) returns at least one series;
  - every alert expression evaluates, returns nothing (a healthy server fires no alert), and
    each metric selector inside it returns data, so the alert would see its input;
  - every rule's health is "ok" and no alert is firing;
and: the scrape passes `promtool check metrics`; buffers under IO or pages under writeback
and dirty pages moved under load; at rest both fixed gauges are 0 (seen directly and through
Prometheus); blockstored exits 0 on SIGTERM (nothing lost) and Prometheus stops.
Every wait is bounded; both processes are stopped whatever happens.
"""

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
FIXED_GAUGES = ("blockstore_buffers_under_io", "blockstore_pages_under_writeback")
TRACKED = FIXED_GAUGES + ("blockstore_pages_dirty", "blockstore_bios_inflight",
                          "blockstore_throttled_writers", "blockstore_pages_cached")

failures = []


def fail(message):
    print("FAIL: " + message, flush=True)
    failures.append(message)


def log(message):
    print(message, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


def wait_for(what, predicate, timeout, interval=0.2):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, ValueError, KeyError, urllib.error.URLError) as e:
            last_error = e
        time.sleep(interval)
    raise TimeoutError("%s: not within %.0f s (last error: %s)" % (what, timeout, last_error))


def parse_gauges(text):
    """Sums each tracked family over its series."""
    sums = dict.fromkeys(TRACKED, 0.0)
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+)(?:\{[^}]*\})? (\S+)$", line)
        if m and m.group(1) in sums:
            sums[m.group(1)] += float(m.group(2))
    return sums


class Poller(threading.Thread):
    """Scrapes /metrics every 10 ms and keeps the maximum of each tracked gauge."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url = url
        self.max = dict.fromkeys(TRACKED, 0.0)
        self.scrapes = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                for name, value in parse_gauges(http_get(self.url)).items():
                    self.max[name] = max(self.max[name], value)
                self.scrapes += 1
            except (OSError, urllib.error.URLError):
                pass
            self.stop.wait(0.01)


class Prometheus:
    def __init__(self, base):
        self.base = base

    def query(self, expr):
        url = "%s/api/v1/query?%s" % (self.base, urllib.parse.urlencode({"query": expr}))
        try:
            body = json.loads(http_get(url, timeout=10))
        except urllib.error.HTTPError as e:
            body = json.loads(e.read().decode())
        if body.get("status") != "success":
            raise ValueError("%s: %s" % (body.get("errorType"), body.get("error")))
        return body["data"]["result"]


def runfile(path):
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return os.path.abspath(path)


def configmap_flags():
    """The --flag=value lines of the ConfigMap's flagfile."""
    text = open(runfile("deploy/k8s/configmap.yaml")).read()
    return re.findall(r"^\s+(--[a-z_]+=\S*)\s*$", text, re.M)


def stop(process, name, timeout):
    """SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit code (None if killed)."""
    if process.poll() is not None:
        return process.returncode
    process.terminate()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        fail("%s still running %d s after SIGTERM" % (name, timeout))
        process.kill()
        process.wait(timeout=10)
        return None


def main():
    tmp = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp()
    logs = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR") or tmp
    blockstored = runfile("server/blockstored")
    blockctl = runfile("client/blockctl")
    alerts = runfile("deploy/prometheus/alerts.yaml")
    dashboard = runfile("deploy/grafana/blockstore-dashboard.json")
    checks = os.path.dirname(os.path.realpath("tools/deploy-checks/package.json"))
    if not os.path.isdir(os.path.join(checks, "node_modules", "@prometheus-io")):
        fail("npm packages missing; run: npm ci --prefix tools/deploy-checks")
        return
    for tool in (PROMETHEUS, PROMTOOL):
        if not os.access(tool, os.X_OK):
            fail("%s missing (apt-get install prometheus)" % tool)
            return
    expressions = json.loads(subprocess.run(
        ["node", "promql.mjs", "list", "--dashboard", dashboard, "--rules", alerts],
        cwd=checks, check=True, capture_output=True, text=True, timeout=60).stdout)
    for e in expressions:
        e["source"] = e["source"].replace(os.getcwd() + "/", "")
    log("%d expressions from the dashboard and the alert rules" % len(expressions))

    # Not the files the pod mounts (TLS, access policy): this test is about metrics, and its
    # blockctl load runs plaintext on loopback. blockstored_flags_test runs them.
    flags = [f for f in configmap_flags()
             if not f.startswith(("--listen=", "--metrics_listen=", "--data_dir=",
                                  "--dirty_limit_bytes=", "--dirty_background_bytes=",
                                  "--dirty_expire=", "--tls_", "--access_"))]
    server_log = open(os.path.join(logs, "blockstored.log"), "w")
    server = subprocess.Popen(
        [blockstored] + flags + [
            "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
            "--data_dir=" + os.path.join(tmp, "data"),
            # Small limits so the load reaches them: throttling and writeback under load.
            "--dirty_limit_bytes=8388608", "--dirty_background_bytes=1048576",
            "--dirty_expire=30s"],
        stdout=subprocess.PIPE, stderr=server_log, text=True)
    prometheus = None
    poller = None
    try:
        lines = []
        reader = threading.Thread(
            target=lambda: [lines.append(line.strip()) for line in server.stdout], daemon=True)
        reader.start()
        wait_for("blockstored start", lambda: any("metrics on" in l for l in lines) or
                 server.poll() is not None, 30)
        address = next((l.split()[-1] for l in lines if l.startswith("blockstored listening on")),
                       None)
        metrics = next((l.split()[-1] for l in lines if l.startswith("blockstored metrics on")),
                       None)
        if address is None or metrics is None:
            fail("blockstored did not start: %s" % lines)
            return
        metrics_url = "http://" + metrics
        metrics_target = metrics.split("/")[0]
        log("blockstored: gRPC %s, metrics %s" % (address, metrics_url))

        port = free_port()
        config = os.path.join(tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "rule_files:\n  - %s\n"
                    "scrape_configs:\n  - job_name: blockstore\n    scrape_timeout: 1s\n"
                    "    static_configs:\n      - targets: ['%s']\n" % (alerts, metrics_target))
        prometheus = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + config,
             "--storage.tsdb.path=" + os.path.join(tmp, "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"],
            stdout=open(os.path.join(logs, "prometheus.log"), "w"), stderr=subprocess.STDOUT)
        base = "http://127.0.0.1:%d" % port
        api = Prometheus(base)
        wait_for("prometheus ready", lambda: http_get(base + "/-/ready"), 60, 0.5)
        wait_for("first scrape", lambda: api.query('up{job="blockstore"} == 1'), 30, 0.5)
        log("prometheus: %s, scraping" % base)

        poller = Poller(metrics_url + "/metrics" if not metrics_url.endswith("/metrics")
                        else metrics_url)
        poller.start()
        run_load(blockctl, address, tmp, poller)

        # Wait until Prometheus holds a scrape taken after the load, then two more for rates.
        wait_for("post-load scrape", lambda: api.query(
            'blockstore_pages_written_total{volume="vol-b"} > 0'), 30, 0.5)
        time.sleep(3)

        text = http_get(poller.url)
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, text=True,
                               capture_output=True, timeout=60)
        if check.returncode != 0:
            fail("promtool check metrics on the live scrape: " + check.stdout + check.stderr)
        else:
            log("promtool check metrics: live scrape clean (%d lines)" % len(text.splitlines()))

        check_expressions(api, expressions)
        check_moved(api, poller)
        poller.stop.set()
        poller.join(timeout=5)
        check_rest(api, poller.url)
        check_rules(api, base)
    finally:
        if poller is not None:
            poller.stop.set()
        code = stop(server, "blockstored", 90)
        if code != 0:
            fail("blockstored exited with %s after SIGTERM (1 = something was not flushed)"
                 % code)
        else:
            log("blockstored: exit 0 after SIGTERM (nothing lost)")
        if prometheus is not None:
            stop(prometheus, "prometheus", 30)
        server_log.close()
        if failures:
            for name in ("blockstored.log", "prometheus.log"):
                path = os.path.join(logs, name)
                if os.path.exists(path):
                    print("---- last lines of %s" % name)
                    print("".join(open(path).readlines()[-30:]))


def blockctl_run(blockctl, address, *args, expect=0, stdin=None):
    result = subprocess.run([blockctl, "--server=" + address, "--timeout=60s"] + list(args),
                            capture_output=True, text=True, timeout=120, stdin=stdin)
    if result.returncode != expect:
        fail("blockctl %s: exit %d (expected %d): %s" % (" ".join(args), result.returncode,
                                                          expect, result.stderr.strip()))
    return result.stdout


def run_load(blockctl, address, tmp, poller):
    started = time.monotonic()
    big = os.path.join(tmp, "32MiB.bin")
    small = os.path.join(tmp, "2MiB.bin")
    with open(big, "wb") as f:
        f.write(os.urandom(32 << 20))
    with open(small, "wb") as f:
        f.write(os.urandom(2 << 20))
    blockctl_run(blockctl, address, "create", "vol-a", "128M")
    blockctl_run(blockctl, address, "write", "vol-a", "0", big)
    blockctl_run(blockctl, address, "read", "vol-a", "0", "64", os.path.join(tmp, "read.bin"))
    flush = blockctl_run(blockctl, address, "flush", "vol-a")
    if "code=OK" not in flush:
        fail("flush of vol-a: " + flush[-300:])
    blockctl_run(blockctl, address, "write", "vol-a", "4096", big)
    blockctl_run(blockctl, address, "flush", "vol-a")
    # On a fast disk a 32 MiB writeback can end between two scrapes: rewrite and flush again
    # (at most 20 rounds) until the poller has seen IO in flight; check_moved judges the result.
    for _ in range(20):
        if max(poller.max[g] for g in FIXED_GAUGES) > 0:
            break
        blockctl_run(blockctl, address, "write", "vol-a", "0", big)
        blockctl_run(blockctl, address, "flush", "vol-a")
    blockctl_run(blockctl, address, "create", "vol-b", "16M")
    blockctl_run(blockctl, address, "write", "vol-b", "0", small)
    blockctl_run(blockctl, address, "read", "vol-b", "0", "16", os.path.join(tmp, "read-b.bin"))
    # A tail below the background threshold (1 MiB) that stays dirty until dirty_expire (30 s),
    # so Prometheus, scraping once a second, sees dirty pages whenever its scrape falls.
    tail = os.path.join(tmp, "64KiB.bin")
    with open(tail, "wb") as f:
        f.write(os.urandom(64 << 10))
    blockctl_run(blockctl, address, "write", "vol-b", "1024", tail)
    # A NOT_FOUND call, so the dashboard's RPC error panel has a series (exit code 2).
    blockctl_run(blockctl, address, "info", "no-such-volume", expect=2)
    listing = blockctl_run(blockctl, address, "list")
    if "vol-a" not in listing or "vol-b" not in listing:
        fail("blockctl list: " + listing)
    log("load: 2 volumes, 66 MiB written, 2 flushes, in %.1f s"
        % (time.monotonic() - started))


def check_expressions(api, expressions):
    answered = 0
    for e in expressions:
        try:
            result = api.query(e["expr"])
        except ValueError as error:
            fail("%s: query failed: %s\n    %s" % (e["source"], error, e["expr"]))
            continue
        if e["kind"] == "alert":
            if result:
                fail("%s: fires on a healthy server: %s" % (e["source"], result))
            for selector in e["selectors"]:
                if not api.query(selector):
                    fail("%s: its input %s has no data" % (e["source"], selector))
        elif not result:
            fail("%s: no data\n    %s" % (e["source"], e["expr"]))
        else:
            answered += 1
    log("%d dashboard expressions returned data; %d alert expressions evaluated, none firing"
        % (answered, sum(1 for e in expressions if e["kind"] == "alert")))


def check_moved(api, poller):
    log("under load (max over %d direct scrapes): %s" % (poller.scrapes, poller.max))
    if poller.max["blockstore_pages_dirty"] <= 0:
        fail("blockstore_pages_dirty never rose under load")
    if max(poller.max[g] for g in FIXED_GAUGES) <= 0:
        fail("neither buffers under IO nor pages under writeback rose under load")
    for gauge in ("blockstore_pages_dirty", "blockstore_pages_cached"):
        try:
            wait_for("Prometheus sees %s above 0" % gauge,
                     lambda: api.query("max_over_time(%s[5m]) > 0" % gauge), 15)
        except TimeoutError:
            fail("Prometheus never saw %s above 0" % gauge)


def check_rest(api, url):
    def at_rest():
        gauges = parse_gauges(http_get(url))
        return all(gauges[g] == 0 for g in FIXED_GAUGES + ("blockstore_bios_inflight",))
    wait_for("buffers under IO and pages under writeback at 0", at_rest, 30)
    expr = " + ".join("sum(%s)" % g for g in FIXED_GAUGES)
    wait_for("Prometheus sees the gauges at 0",
             lambda: any(float(r["value"][1]) == 0 for r in api.query(expr)), 15, 0.5)
    log("at rest: %s are 0 (direct scrape and Prometheus)" % " and ".join(FIXED_GAUGES))


def check_rules(api, base):
    def evaluated():
        groups = json.loads(http_get(base + "/api/v1/rules"))["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return rules if rules and all(r["health"] != "unknown" for r in rules) else None
    rules = wait_for("rules evaluated", evaluated, 15, 0.5)
    for rule in rules:
        if rule["health"] != "ok":
            fail("rule %s: health %s: %s" % (rule["name"], rule["health"], rule.get("lastError")))
    alerts = json.loads(http_get(base + "/api/v1/alerts"))["data"]["alerts"]
    firing = [a["labels"]["alertname"] for a in alerts if a["state"] == "firing"]
    if firing:
        fail("alerts firing on a healthy server: %s" % firing)
    log("%d rules healthy, %d alerts firing" % (len(rules), len(firing)))


if __name__ == "__main__":
    try:
        main()
    except (TimeoutError, OSError, subprocess.SubprocessError, ValueError) as e:
        fail("%s: %s" % (type(e).__name__, e))
    if failures:
        print("%d failures" % len(failures))
        sys.exit(1)
    print("live Prometheus test passed")
