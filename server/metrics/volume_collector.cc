#include "server/metrics/volume_collector.h"

#include <atomic>
#include <cstddef>
#include <utility>

#include "server/metrics/histogram_export.h"

namespace blockstore {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

double Read(const VolumeCounters::Gauge& gauge) {
  // Exported as read, negative included: a gauge that stays below 0 is an accounting bug the
  // dashboard should show, not hide.
  return static_cast<double>(gauge.load(std::memory_order_relaxed));
}

double Read(const VolumeCounters::Counter& counter) {
  return static_cast<double>(counter.load(std::memory_order_relaxed));
}

ClientMetric VolumeMetric(const VolumeView& view) {
  ClientMetric metric;
  metric.label = {{"volume", view.name}};
  return metric;
}

MetricFamily& NewFamily(std::vector<MetricFamily>* families, const char* name, const char* help,
                        MetricType type) {
  families->emplace_back();
  MetricFamily& family = families->back();
  family.name = name;
  family.help = help;
  family.type = type;
  return family;
}

// `value(view)` -> double. Views for which `has_value(view)` is false get no series.
template <typename ValueFn>
void AddGauge(std::vector<MetricFamily>* families, const std::vector<VolumeView>& views,
              const char* name, const char* help, ValueFn value,
              bool (*has_value)(const VolumeView&) = nullptr) {
  MetricFamily& family = NewFamily(families, name, help, MetricType::Gauge);
  for (const VolumeView& view : views) {
    if (has_value != nullptr && !has_value(view)) continue;
    ClientMetric metric = VolumeMetric(view);
    metric.gauge.value = value(view);
    family.metric.push_back(std::move(metric));
  }
}

// `value(counters)` -> double.
template <typename ValueFn>
void AddCounter(std::vector<MetricFamily>* families, const std::vector<VolumeView>& views,
                const char* name, const char* help, ValueFn value) {
  MetricFamily& family = NewFamily(families, name, help, MetricType::Counter);
  for (const VolumeView& view : views) {
    ClientMetric metric = VolumeMetric(view);
    metric.counter.value = value(*view.counters);
    family.metric.push_back(std::move(metric));
  }
}

// One series per (volume, label value); `counters(c)` returns the counter array indexed by
// the enum, `label_value(e)` its label. Every label value is emitted, zero included, so rate()
// sees a series from its first increment.
template <typename Enum, typename ArrayFn>
void AddLabelledCounter(std::vector<MetricFamily>* families, const std::vector<VolumeView>& views,
                        const char* name, const char* help, const char* label,
                        const char* (*label_value)(Enum), ArrayFn counters) {
  MetricFamily& family = NewFamily(families, name, help, MetricType::Counter);
  constexpr int kCount = static_cast<int>(Enum::kCount);
  for (const VolumeView& view : views) {
    const auto& array = counters(*view.counters);
    for (int i = 0; i < kCount; ++i) {
      ClientMetric metric = VolumeMetric(view);
      metric.label.push_back({label, label_value(static_cast<Enum>(i))});
      metric.counter.value = Read(array[i]);
      family.metric.push_back(std::move(metric));
    }
  }
}

// `histogram(counters)` returns an AtomicHistogram<N>.
template <typename HistogramFn>
void AddHistogram(std::vector<MetricFamily>* families, const std::vector<VolumeView>& views,
                  const char* name, const char* help, HistogramFn histogram) {
  MetricFamily& family = NewFamily(families, name, help, MetricType::Histogram);
  for (const VolumeView& view : views) {
    ClientMetric metric = VolumeMetric(view);
    metric.histogram = ExportHistogram(histogram(*view.counters));
    family.metric.push_back(std::move(metric));
  }
}

}  // namespace

VolumeCollector::VolumeCollector(VolumeLister lister) : lister_(std::move(lister)) {}

std::vector<std::string> VolumeCollector::FamilyNames() {
  std::vector<std::string> names;
  for (const MetricFamily& family :
       VolumeCollector([] { return std::vector<VolumeView>(); }).Collect()) {
    names.push_back(family.name);
  }
  return names;
}

std::vector<MetricFamily> VolumeCollector::Collect() const {
  std::vector<VolumeView> views = lister_();
  // A view without counters cannot be read; skipping it beats crashing the scrape thread.
  std::vector<VolumeView> live;
  live.reserve(views.size());
  for (VolumeView& view : views) {
    if (view.counters != nullptr) live.push_back(std::move(view));
  }
  using C = VolumeCounters;
  std::vector<MetricFamily> f;
  f.reserve(48);

  {
    MetricFamily& family = NewFamily(&f, "blockstore_volumes",
                                     "Number of volumes open on this server.", MetricType::Gauge);
    ClientMetric metric;
    metric.gauge.value = static_cast<double>(live.size());
    family.metric.push_back(std::move(metric));
  }

  // Gauges.
  AddGauge(&f, live, "blockstore_buffers_under_io",
           "Blocks whose write is in flight (BlockBuffer kAsyncWrite set; the kernel's buffers "
           "under IO). Returns to 0 at rest.",
           [](const VolumeView& v) { return Read(v.counters->buffers_under_io); });
  AddGauge(&f, live, "blockstore_pages_under_writeback",
           "Pages with the writeback flag set (kernel: nr_writeback). Returns to 0 at rest.",
           [](const VolumeView& v) { return Read(v.counters->pages_under_writeback); });
  AddGauge(&f, live, "blockstore_pages_dirty",
           "Cached pages dirty and not yet under writeback (kernel: nr_dirty).",
           [](const VolumeView& v) { return Read(v.counters->pages_dirty); });
  AddGauge(&f, live, "blockstore_dirty_bytes",
           "Dirty data in bytes: dirty pages times the volume's page size. Writers are "
           "throttled above blockstore_dirty_limit_bytes.",
           [](const VolumeView& v) {
             return Read(v.counters->pages_dirty) * static_cast<double>(v.page_size_bytes);
           });
  AddGauge(
      &f, live, "blockstore_dirty_limit_bytes",
      "Dirty bytes above which writers wait for writeback (--dirty_limit_bytes; kernel: "
      "dirty_bytes).",
      [](const VolumeView& v) { return static_cast<double>(v.dirty_limit_bytes); },
      [](const VolumeView& v) { return v.dirty_limits_known; });
  AddGauge(
      &f, live, "blockstore_dirty_background_bytes",
      "Dirty bytes above which the flusher starts background writeback "
      "(--dirty_background_bytes; kernel: dirty_background_bytes).",
      [](const VolumeView& v) { return static_cast<double>(v.dirty_background_bytes); },
      [](const VolumeView& v) { return v.dirty_limits_known; });
  AddGauge(&f, live, "blockstore_pages_cached", "Pages held in the volume's page cache.",
           [](const VolumeView& v) { return Read(v.counters->pages_cached); });
  AddGauge(&f, live, "blockstore_bios_inflight",
           "Bios submitted to the IO backend and not yet completed.",
           [](const VolumeView& v) { return Read(v.counters->bios_inflight); });
  AddGauge(&f, live, "blockstore_ioends_inflight",
           "IoEnds (groups of bios from one writeback pass) not yet completed.",
           [](const VolumeView& v) { return Read(v.counters->ioends_inflight); });
  AddGauge(&f, live, "blockstore_throttled_writers",
           "Writers waiting now because dirty data is over the dirty limit.",
           [](const VolumeView& v) { return Read(v.counters->throttled_writers); });

  // Client-facing traffic.
  AddCounter(&f, live, "blockstore_pages_written_total",
             "Client page writes that reached the cache.",
             [](const C& c) { return Read(c.pages_written); });
  AddCounter(&f, live, "blockstore_written_bytes_total", "Bytes written by clients into the cache.",
             [](const C& c) { return Read(c.bytes_written); });
  AddCounter(&f, live, "blockstore_pages_read_total", "Pages read by clients.",
             [](const C& c) { return Read(c.pages_read); });
  AddCounter(&f, live, "blockstore_read_bytes_total", "Bytes read by clients.",
             [](const C& c) { return Read(c.bytes_read); });

  // Writeback.
  AddCounter(&f, live, "blockstore_start_writeback_total",
             "Pages whose writeback started (set_page_writeback).",
             [](const C& c) { return Read(c.start_writeback); });
  AddCounter(&f, live, "blockstore_end_writeback_total",
             "Pages whose writeback ended (end_page_writeback).",
             [](const C& c) { return Read(c.end_writeback); });
  AddCounter(&f, live, "blockstore_double_end_writeback_total",
             "Writeback ended twice for the same page: an engine bug; must stay 0 (R19).",
             [](const C& c) { return Read(c.double_end_writeback); });
  AddCounter(&f, live, "blockstore_nothing_submitted_total",
             "Writeback passes over a page that found nothing to write (R12).",
             [](const C& c) { return Read(c.nothing_submitted); });
  AddCounter(&f, live, "blockstore_bios_submitted_total", "Bios submitted to the IO backend.",
             [](const C& c) { return Read(c.bios_submitted); });
  AddCounter(&f, live, "blockstore_bio_merges_total",
             "Buffers appended to an open bio instead of starting a new one.",
             [](const C& c) { return Read(c.bio_merges); });
  AddLabelledCounter(
      &f, live, "blockstore_bio_splits_total",
      "Bios closed before reaching their limits, or started anew, by reason.", "reason",
      &BioSplitReasonName, [](const C& c) -> const auto& { return c.bio_splits; });
  AddLabelledCounter(
      &f, live, "blockstore_redirty_total",
      "Pages dirtied again by writeback itself instead of being written, by "
      "reason.",
      "reason", &RedirtyReasonName, [](const C& c) -> const auto& { return c.redirtied; });
  AddLabelledCounter(
      &f, live, "blockstore_write_errors_total",
      "Write errors by kind: eio, enospc and other count failed bios; short and "
      "eagain_retry count resubmissions that later succeeded.",
      "kind", &WriteErrorKindName, [](const C& c) -> const auto& { return c.write_errors; });
  AddCounter(&f, live, "blockstore_pages_error_total",
             "Page writebacks that ended with an error (the page keeps its error flag).",
             [](const C& c) { return Read(c.pages_error); });
  AddCounter(&f, live, "blockstore_buffer_io_errors_total", "Blocks whose write failed.",
             [](const C& c) { return Read(c.buffer_io_errors); });
  AddCounter(&f, live, "blockstore_fdatasyncs_total", "Device flushes (fdatasync) issued.",
             [](const C& c) { return Read(c.fdatasyncs); });
  AddCounter(&f, live, "blockstore_flushes_total", "Flush calls completed.",
             [](const C& c) { return Read(c.flushes); });
  AddCounter(&f, live, "blockstore_flush_errors_total", "Flush calls that returned an error.",
             [](const C& c) { return Read(c.flush_errors); });
  AddCounter(&f, live, "blockstore_dirty_throttle_seconds_total",
             "Time writers spent waiting on the dirty limit, in seconds, summed over writers.",
             [](const C& c) { return Read(c.throttled_ns) / 1e9; });

  // Cache.
  AddCounter(&f, live, "blockstore_cache_hits_total", "Page lookups served from the cache.",
             [](const C& c) { return Read(c.cache_hits); });
  AddCounter(&f, live, "blockstore_cache_misses_total", "Page lookups that missed the cache.",
             [](const C& c) { return Read(c.cache_misses); });
  AddCounter(&f, live, "blockstore_cache_evictions_total",
             "Clean pages evicted from the cache to stay within --cache_bytes.",
             [](const C& c) { return Read(c.cache_evictions); });

  // Histograms.
  AddHistogram(
      &f, live, "blockstore_bio_bytes", "Size of submitted bios in bytes.",
      [](const C& c) -> const auto& { return c.bio_bytes; });
  AddHistogram(
      &f, live, "blockstore_bio_vecs", "Segments (iovecs) per submitted bio.",
      [](const C& c) -> const auto& { return c.bio_vecs; });
  AddHistogram(
      &f, live, "blockstore_bio_latency_seconds",
      "Bio latency in seconds, from submission to its completion (CQE).",
      [](const C& c) -> const auto& { return c.bio_latency_seconds; });
  AddHistogram(
      &f, live, "blockstore_page_writeback_seconds",
      "Page writeback latency in seconds, from start to end of writeback.",
      [](const C& c) -> const auto& { return c.page_writeback_seconds; });
  AddHistogram(
      &f, live, "blockstore_flush_seconds",
      "Flush latency in seconds: writeback of every dirty page plus the device flush.",
      [](const C& c) -> const auto& { return c.flush_seconds; });
  return f;
}

}  // namespace blockstore
