#!/usr/bin/python3
"""Writes blockstore-dashboard.json, the Grafana dashboard for blockstored.

Edit this file, not the JSON: generate_dashboard.py > blockstore-dashboard.json
(deploy:dashboard_test fails when the two differ). The JSON imports as it is: its data source
is the `datasource` variable, so Grafana asks for nothing on import.
"""

import json
import sys

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'instance=~"$instance", volume=~"$volume"'  # per-volume series
RATE = "[$__rate_interval]"


def target(expr, legend, ref, fmt=None):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref, "range": True}
    if fmt:
        t["format"] = fmt
    return t


def timeseries(title, description, unit, targets, stack=False, min_zero=True):
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
              "spanNulls": False,
              "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
    defaults = {"unit": unit, "custom": custom}
    if min_zero:
        defaults["min"] = 0
    return {"type": "timeseries", "title": title, "description": description,
            "datasource": DS, "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {"legend": {"displayMode": "table", "placement": "bottom",
                                   "calcs": ["lastNotNull", "max"]},
                        "tooltip": {"mode": "multi", "sort": "desc"}},
            "targets": targets}


def heatmap(title, description, unit, expr):
    return {"type": "heatmap", "title": title, "description": description, "datasource": DS,
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"calculate": False, "yAxis": {"unit": unit},
                        "cellGap": 1, "color": {"mode": "scheme", "scheme": "Oranges"},
                        "rowsFrame": {"layout": "le"}, "tooltip": {"show": True}},
            "targets": [target(expr, "{{le}}", "A", fmt="heatmap")]}


def stat(title, description, unit, expr, thresholds):
    return {"type": "stat", "title": title, "description": description, "datasource": DS,
            "fieldConfig": {"defaults": {"unit": unit, "thresholds": {
                "mode": "absolute", "steps": thresholds}}, "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                          "values": False},
                        "colorMode": "background", "graphMode": "none"},
            "targets": [target(expr, "", "A")]}


def table(title, description, expr, columns):
    """An instant query as a table: one row per series, the label `columns` in that order."""
    t = target(expr, "", "A", fmt="table")
    t["instant"], t["range"] = True, False
    return {"type": "table", "title": title, "description": description, "datasource": DS,
            "fieldConfig": {"defaults": {}, "overrides": []},
            "options": {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
            "transformations": [{"id": "organize", "options": {
                "excludeByName": {"Time": True, "Value": True},
                "indexByName": {c: i for i, c in enumerate(columns)}}}],
            "targets": [t]}


def quantiles(metric, by, qs=(0.5, 0.99), sel=SEL):
    out = []
    for i, q in enumerate(qs):
        out.append(target(
            "histogram_quantile(%g, sum by (%s, le) (rate(%s_bucket{%s}%s)))"
            % (q, by, metric, sel, RATE),
            "{{%s}} p%g" % (by, q * 100), chr(ord("A") + i)))
    return out


def rate(metric, by="volume", extra=""):
    sel = SEL + (", " + extra if extra else "")
    return "sum by (%s) (rate(%s{%s}%s))" % (by, metric, sel, RATE)


# Server-wide series (no volume label): the store and its locks, refusals.
SERVER = 'instance=~"$instance"'


def per_server(func, metric, by="instance"):
    return "sum by (%s) (%s(%s{%s}%s))" % (by, func, metric, SERVER, RATE)


GREEN, RED = "green", "red"


def panels():
    rows = []
    rows.append(("Overview", [
        stat("Servers up", "blockstored targets answering scrapes (job=\"blockstore\").",
             "none", 'sum(up{job="blockstore", instance=~"$instance"})',
             [{"color": RED, "value": None}, {"color": GREEN, "value": 1}]),
        stat("Volumes", "Volumes open on the selected servers.", "none",
             'sum(blockstore_volumes{instance=~"$instance"})',
             [{"color": GREEN, "value": None}]),
        stat("Double end-writeback", "Must stay 0: a page ended writeback twice (an engine "
             "bug; alert BlockstoreDoubleEndWriteback).", "none",
             "sum(blockstore_double_end_writeback_total{%s}) or vector(0)" % SEL,
             [{"color": GREEN, "value": None}, {"color": RED, "value": 1}]),
        stat("Cache hit ratio", "Page lookups served from the cache, over the range.",
             "percentunit",
             "sum(increase(blockstore_cache_hits_total{%s}[$__range])) / "
             "(sum(increase(blockstore_cache_hits_total{%s}[$__range])) + "
             "sum(increase(blockstore_cache_misses_total{%s}[$__range])))" % (SEL, SEL, SEL),
             [{"color": RED, "value": None}, {"color": "yellow", "value": 0.5},
              {"color": GREEN, "value": 0.9}]),
    ], 6))
    rows.append(("Traffic", [
        timeseries("Throughput", "Bytes per second written into and read from the cache by "
                   "clients.", "Bps", [
                       target(rate("blockstore_written_bytes_total"), "{{volume}} write", "A"),
                       target(rate("blockstore_read_bytes_total"), "{{volume}} read", "B")]),
        timeseries("IOPS", "Client page writes and reads per second, and bios submitted to the "
                   "device per second.", "iops", [
                       target(rate("blockstore_pages_written_total"), "{{volume}} page writes",
                              "A"),
                       target(rate("blockstore_pages_read_total"), "{{volume}} page reads", "B"),
                       target(rate("blockstore_bios_submitted_total"), "{{volume}} bios", "C")]),
    ], 12))
    rows.append(("Latency", [
        timeseries("RPC latency", "p50 and p99 of finished RPCs by method (all codes).", "s",
                   quantiles("blockstore_rpc_seconds", "method", sel='instance=~"$instance"')),
        timeseries("Flush latency", "p50 and p99 of Flush: writeback of every dirty page plus "
                   "the device flush.", "s", quantiles("blockstore_flush_seconds", "volume")),
        timeseries("Bio latency", "p50 and p99 from bio submission to completion.", "s",
                   quantiles("blockstore_bio_latency_seconds", "volume")),
        timeseries("Page writeback latency", "p50 and p99 from start to end of a page's "
                   "writeback.", "s", quantiles("blockstore_page_writeback_seconds", "volume")),
    ], 12))
    rows.append(("Writeback", [
        timeseries("Buffers under IO and pages under writeback", "Blocks whose write is in "
                   "flight and pages with the writeback flag; both return to 0 at rest.",
                   "short", [
                       target("sum by (volume) (blockstore_buffers_under_io{%s})" % SEL,
                              "{{volume}} buffers under IO", "A"),
                       target("sum by (volume) (blockstore_pages_under_writeback{%s})" % SEL,
                              "{{volume}} pages under writeback", "B")]),
        timeseries("Dirty data against the limits", "Dirty bytes; the flusher starts above "
                   "the background threshold, writers wait above the limit.", "bytes", [
                       target("sum by (volume) (blockstore_dirty_bytes{%s})" % SEL,
                              "{{volume}} dirty", "A"),
                       target("max by (volume) (blockstore_dirty_background_bytes{%s})" % SEL,
                              "{{volume}} background threshold", "B"),
                       target("max by (volume) (blockstore_dirty_limit_bytes{%s})" % SEL,
                              "{{volume}} limit", "C")]),
        timeseries("Bios and IoEnds in flight", "Bios at the device and IoEnds (writeback "
                   "passes) not yet completed.", "short", [
                       target("sum by (volume) (blockstore_bios_inflight{%s})" % SEL,
                              "{{volume}} bios", "A"),
                       target("sum by (volume) (blockstore_ioends_inflight{%s})" % SEL,
                              "{{volume}} ioends", "B")]),
        timeseries("Bio merges, splits and redirties", "Buffers appended to an open bio, bios "
                   "split by reason, pages redirtied by reason (per second).", "ops", [
                       target(rate("blockstore_bio_merges_total"), "{{volume}} merges", "A"),
                       target(rate("blockstore_bio_splits_total", "volume, reason"),
                              "{{volume}} split {{reason}}", "B"),
                       target(rate("blockstore_redirty_total", "volume, reason"),
                              "{{volume}} redirty {{reason}}", "C")]),
        heatmap("Bio size distribution", "Submitted bios by size (bytes).", "bytes",
                "sum by (le) (increase(blockstore_bio_bytes_bucket{%s}%s))" % (SEL, RATE)),
        heatmap("Bio segments distribution", "Submitted bios by number of iovecs.", "short",
                "sum by (le) (increase(blockstore_bio_vecs_bucket{%s}%s))" % (SEL, RATE)),
    ], 12))
    rows.append(("Errors", [
        timeseries("Write errors", "Failed bios (eio, enospc, other) and resubmissions that "
                   "later succeeded (short, eagain_retry), per second.", "ops", [
                       target(rate("blockstore_write_errors_total", "volume, kind"),
                              "{{volume}} {{kind}}", "A")]),
        timeseries("Page, buffer and flush errors", "Page writebacks ending in error, failed "
                   "blocks and failed Flush calls, per second.", "ops", [
                       target(rate("blockstore_pages_error_total"), "{{volume}} pages", "A"),
                       target(rate("blockstore_buffer_io_errors_total"), "{{volume}} buffers",
                              "B"),
                       target(rate("blockstore_flush_errors_total"), "{{volume}} flushes",
                              "C")]),
        timeseries("RPC errors", "Finished RPCs per second by method and non-OK code.", "reqps",
                   [target('sum by (method, code) (rate(blockstore_rpc_seconds_count'
                           '{instance=~"$instance", code!="OK"}%s))' % RATE,
                           "{{method}} {{code}}", "A")]),
    ], 8))
    rows.append(("Throttling and cache", [
        timeseries("Time writers spent throttled", "Seconds per second writers waited on the "
                   "dirty limit (the average number of waiting writers), and writers waiting "
                   "now.", "s", [
                       target(rate("blockstore_dirty_throttle_seconds_total"),
                              "{{volume}} throttled s/s", "A"),
                       target("sum by (volume) (blockstore_throttled_writers{%s})" % SEL,
                              "{{volume}} writers waiting", "B")]),
        timeseries("Cache hit ratio", "Share of page lookups served from the cache.",
                   "percentunit", [target(
                       "%s / (%s + %s)" % (rate("blockstore_cache_hits_total"),
                                           rate("blockstore_cache_hits_total"),
                                           rate("blockstore_cache_misses_total")),
                       "{{volume}}", "A")]),
        timeseries("Cached pages and evictions", "Pages held in the cache, and evictions per "
                   "second.", "short", [
                       target("sum by (volume) (blockstore_pages_cached{%s})" % SEL,
                              "{{volume}} cached pages", "A"),
                       target(rate("blockstore_cache_evictions_total"),
                              "{{volume}} evictions/s", "B")]),
    ], 8))

    # Exported by every server from its start: on store=dir the lock counters stay 0 and
    # every reason of blockstore_requests_denied_total is 0 until the first refusal, so
    # these panels show 0 rather than no data (docs/scale-out.md, docs/security.md).
    rows.append(("Store and ownership", [
        table("Servers", "Each server's store (dir: files under --data_dir; rbd: images of a "
              "Ceph pool) and the address it advertises as the owner of the volumes it holds "
              "(--advertise_address; the pod's name in deploy/k8s-rbd).",
              "max by (instance, store, advertise_address) (blockstore_store_info{%s})"
              % SERVER, ["instance", "store", "advertise_address"]),
        table("Volume owners", "Which server serves each volume now: a volume's series come "
              "from the server that holds it (store=rbd: its lock). After a failover the "
              "volume moves to the server that took it over.",
              "group by (volume, instance) (blockstore_pages_cached{%s}) * on (instance) "
              "group_left (store, advertise_address) group by (instance, store, "
              "advertise_address) (blockstore_store_info{%s})" % (SEL, SERVER),
              ["volume", "advertise_address", "instance", "store"]),
        timeseries("Volume locks acquired and lost", "Per server, per interval (store=rbd; "
                   "0 on store=dir): volume locks taken (volumes created, opened or taken "
                   "over) and lost (another server fenced this one and took its volumes over; "
                   "calls on them fail FAILED_PRECONDITION here). Counted per server, "
                   "not per volume: Volume owners shows which volumes moved.",
                   "short", [
                       target(per_server("increase",
                                         "blockstore_volume_locks_acquired_total"),
                              "{{instance}} acquired", "A"),
                       target(per_server("increase", "blockstore_volume_locks_lost_total"),
                              "{{instance}} lost", "B")]),
        timeseries("Failovers", "Per server, per interval (store=rbd; 0 on store=dir): "
                   "volumes it took over from an owner that stopped uncleanly (died or was "
                   "cut off), after fencing it; they serve at a new incarnation. A clean "
                   "handover (SIGTERM) is not a failover.", "short", [
                       target(per_server("increase", "blockstore_volume_failovers_total"),
                              "{{instance}} took over", "A")]),
    ], 12))
    rows.append(("Refusals", [
        timeseries("Requests denied by reason", "Calls and writes refused before they touched "
                   "a volume, per second: unauthenticated, permission_denied (access policy), "
                   "or a per-client limit (streams_per_client, "
                   "write_bytes_in_flight_per_client, writes_per_second_per_client). Each is "
                   "logged (docs/security.md).", "reqps", [
                       target(per_server("rate", "blockstore_requests_denied_total", "reason"),
                              "{{reason}}", "A")]),
        timeseries("Requests denied by server", "The same refusals per server and reason, "
                   "per second: a client refused in a loop shows on the server it talks to.",
                   "reqps", [
                       target(per_server("rate", "blockstore_requests_denied_total",
                                         "instance, reason"),
                              "{{instance}} {{reason}}", "A")]),
    ], 12))

    out, y, pid = [], 0, 1
    for title, row, width in rows:
        out.append({"type": "row", "title": title, "collapsed": False, "id": pid,
                    "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        pid += 1
        y += 1
        height = 4 if title == "Overview" else 8
        x = 0
        for p in row:
            if x + width > 24:
                x, y = 0, y + height
            p["id"] = pid
            p["gridPos"] = {"h": height, "w": width, "x": x, "y": y}
            pid += 1
            x += width
            out.append(p)
        y += height
    return out


def variable(name, label, query):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": name}, "definition": query, "refresh": 2,
            "includeAll": True, "multi": True, "allValue": ".*", "sort": 1,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}}


def dashboard():
    return {
        "title": "blockstore",
        "uid": "blockstore-overview",
        "description": "blockstored: traffic, latency, writeback, dirty limits, errors, "
                       "throttling and cache, per volume; store, volume owners, locks and "
                       "failovers (store=rbd), and refused requests, per server.",
        "tags": ["blockstore", "storage"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource",
             "query": "prometheus", "refresh": 1, "current": {}},
            variable("instance", "Server", 'label_values(blockstore_volumes{job="blockstore"}, '
                     'instance)'),
            variable("volume", "Volume",
                     'label_values(blockstore_pages_dirty{instance=~"$instance"}, volume)'),
        ]},
        "panels": panels(),
    }


if __name__ == "__main__":
    json.dump(dashboard(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
