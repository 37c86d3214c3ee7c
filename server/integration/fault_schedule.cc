#include "server/integration/fault_schedule.h"

#include <cerrno>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace blockstore {

const char kFaultScheduleSyntax[] =
    "A fault schedule is clauses separated by ';' (spaces ignored). Device block numbers and\n"
    "offsets are those of a volume's file: block n of a volume of B-byte blocks is at byte\n"
    "n * B. Requests are counted per server, over the volumes the faults hit.\n"
    "  eio@block=N       every write touching block N (of block_bytes) fails with EIO and\n"
    "                    writes nothing; for good, like a bad sector. Reads are not affected\n"
    "  enospc@block=N    the same with ENOSPC\n"
    "  eio@offset=B      the same for the block_bytes-long block at byte B (also enospc@)\n"
    "  eio@submit=N      the Nth request (write, read or device flush) fails with EIO (also\n"
    "                    enospc@submit=N)\n"
    "  eio=1inN          each request fails with EIO with probability 1/N\n"
    "  short_write=1inN  each write longer than short_align is cut short with probability\n"
    "                    1/N (the server resubmits the rest)\n"
    "  short_write@bytes=B  the first write longer than B bytes is cut to B\n"
    "  short_read=1inN   the same for reads\n"
    "  eagain=N          the first N requests fail with EAGAIN (the server retries)\n"
    "  eagain=1inN       each request fails with EAGAIN with probability 1/N\n"
    "  slow_ms=M         every completion is held M ms before the server sees it (the\n"
    "                    request itself reaches the disk at once)\n"
    "  slow_ms=M/1inN    one completion in N is\n"
    "  vol=NAME[,NAME]   the faults hit only these volumes' IO; the others' passes untouched\n"
    "                    (default: every volume)\n"
    "  block_bytes=B     the unit of @block= (default 4096)\n"
    "  short_align=B     short writes and reads are cut to multiples of B (default 512; 4096\n"
    "                    on a disk of 4 KiB sectors, where O_DIRECT refuses 512)\n"
    "  seed=S            seed of the random faults (default 1)\n"
    "Example: vol=bad;eio@block=13;enospc@block=20;short_write=1in7;eagain=3;slow_ms=5;"
    "eio=1in50\n";

namespace {

absl::Status Bad(absl::string_view clause, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("fault_schedule: \"", clause, "\": ", why, " (see --help)"));
}

// "1inN" with N > 0.
bool ParseOneIn(absl::string_view text, uint32_t* n) {
  return absl::ConsumePrefix(&text, "1in") && absl::SimpleAtoi(text, n) && *n > 0;
}

template <typename T>
bool ParsePositive(absl::string_view text, T* value) {
  return absl::SimpleAtoi(text, value) && *value > 0;
}

}  // namespace

absl::StatusOr<FaultSchedule> ParseFaultSchedule(absl::string_view text) {
  FaultSchedule schedule;
  // @block= faults are kept as block numbers until block_bytes, which may come later, is known.
  struct PendingBlock {
    uint64_t value;
    bool is_block;
    int err;
  };
  std::vector<PendingBlock> pending_blocks;
  const std::string compact = absl::StrReplaceAll(text, {{" ", ""}, {"\t", ""}, {"\n", ""}});
  for (absl::string_view clause : absl::StrSplit(compact, ';', absl::SkipEmpty())) {
    const size_t equals = clause.find('=');
    if (equals == absl::string_view::npos) return Bad(clause, "no '='");
    absl::string_view key = clause.substr(0, equals);
    const absl::string_view value = clause.substr(equals + 1);
    absl::string_view where;
    const size_t at = key.find('@');
    if (at != absl::string_view::npos) {
      where = key.substr(at + 1);
      key = key.substr(0, at);
    }

    if ((key == "eio" || key == "enospc") && !where.empty()) {
      const int err = key == "eio" ? EIO : ENOSPC;
      uint64_t number = 0;
      if (!absl::SimpleAtoi(value, &number)) return Bad(clause, "not a number");
      if (where == "block" || where == "offset") {
        pending_blocks.push_back({number, where == "block", err});
      } else if (where == "submit") {
        if (number == 0) return Bad(clause, "requests count from 1");
        schedule.nth_submits.push_back({number, err});
      } else {
        return Bad(clause, "expected @block=, @offset= or @submit=");
      }
    } else if (key == "eio" && where.empty()) {
      if (!ParseOneIn(value, &schedule.eio_one_in)) return Bad(clause, "expected eio=1inN");
    } else if (key == "short_write" && where == "bytes") {
      if (!absl::SimpleAtoi(value, &schedule.short_write_once_bytes) ||
          schedule.short_write_once_bytes < 0 || schedule.short_write_once_bytes > UINT32_MAX) {
        return Bad(clause, "expected 0 <= B < 2^32");
      }
    } else if (key == "short_write" && where.empty()) {
      if (!ParseOneIn(value, &schedule.short_write_one_in)) return Bad(clause, "expected 1inN");
    } else if (key == "short_read" && where.empty()) {
      if (!ParseOneIn(value, &schedule.short_read_one_in)) return Bad(clause, "expected 1inN");
    } else if (key == "eagain" && where.empty()) {
      if (!ParseOneIn(value, &schedule.eagain_one_in) &&
          !absl::SimpleAtoi(value, &schedule.eagain_times)) {
        return Bad(clause, "expected eagain=N or eagain=1inN");
      }
      if (schedule.eagain_times < 0) return Bad(clause, "negative");
    } else if (key == "slow_ms" && where.empty()) {
      const std::vector<absl::string_view> parts = absl::StrSplit(value, '/');
      int64_t ms = 0;
      if (parts.size() > 2 || !ParsePositive(parts[0], &ms)) {
        return Bad(clause, "expected slow_ms=M or slow_ms=M/1inN, M > 0");
      }
      schedule.slow = absl::Milliseconds(ms);
      schedule.slow_one_in = 1;
      if (parts.size() == 2 && !ParseOneIn(parts[1], &schedule.slow_one_in)) {
        return Bad(clause, "expected slow_ms=M/1inN");
      }
    } else if (key == "vol" && where.empty()) {
      for (absl::string_view name : absl::StrSplit(value, ',', absl::SkipEmpty())) {
        schedule.volumes.emplace_back(name);
      }
      if (schedule.volumes.empty()) return Bad(clause, "no volume named");
    } else if (key == "block_bytes" && where.empty()) {
      if (!ParsePositive(value, &schedule.block_bytes)) return Bad(clause, "expected B > 0");
    } else if (key == "short_align" && where.empty()) {
      if (!ParsePositive(value, &schedule.short_align_bytes)) return Bad(clause, "expected B > 0");
    } else if (key == "seed" && where.empty()) {
      if (!absl::SimpleAtoi(value, &schedule.seed)) return Bad(clause, "not a number");
    } else {
      return Bad(clause, "unknown fault");
    }
  }
  for (const PendingBlock& block : pending_blocks) {
    const uint64_t offset = block.is_block ? block.value * schedule.block_bytes : block.value;
    schedule.bad_blocks.push_back({offset, block.err});
  }
  return schedule;
}

std::string FaultScheduleToString(const FaultSchedule& s) {
  std::vector<std::string> clauses;
  if (!s.volumes.empty()) clauses.push_back(absl::StrCat("vol=", absl::StrJoin(s.volumes, ",")));
  for (const FaultSchedule::BlockFault& block : s.bad_blocks) {
    clauses.push_back(
        absl::StrCat(block.err == EIO ? "eio" : "enospc", "@offset=", block.offset_bytes));
  }
  for (const FaultSchedule::NthSubmitFault& nth : s.nth_submits) {
    clauses.push_back(absl::StrCat(nth.err == EIO ? "eio" : "enospc", "@submit=", nth.n));
  }
  if (s.eio_one_in != 0) clauses.push_back(absl::StrCat("eio=1in", s.eio_one_in));
  if (s.short_write_one_in != 0) {
    clauses.push_back(absl::StrCat("short_write=1in", s.short_write_one_in));
  }
  if (s.short_write_once_bytes >= 0) {
    clauses.push_back(absl::StrCat("short_write@bytes=", s.short_write_once_bytes));
  }
  if (s.short_read_one_in != 0) {
    clauses.push_back(absl::StrCat("short_read=1in", s.short_read_one_in));
  }
  if (s.eagain_times != 0) clauses.push_back(absl::StrCat("eagain=", s.eagain_times));
  if (s.eagain_one_in != 0) clauses.push_back(absl::StrCat("eagain=1in", s.eagain_one_in));
  if (s.slow > absl::ZeroDuration()) {
    clauses.push_back(absl::StrCat("slow_ms=", absl::ToInt64Milliseconds(s.slow),
                                   s.slow_one_in == 1 ? "" : absl::StrCat("/1in", s.slow_one_in)));
  }
  if (clauses.empty()) return "";
  clauses.push_back(absl::StrCat("block_bytes=", s.block_bytes));
  clauses.push_back(absl::StrCat("short_align=", s.short_align_bytes));
  clauses.push_back(absl::StrCat("seed=", s.seed));
  return absl::StrJoin(clauses, ";");
}

std::unique_ptr<FaultyIoBackend> NewScheduledFaultyIoBackend(IoBackend* target,
                                                             const FaultSchedule& schedule) {
  FaultyIoBackend::Options options;
  options.seed = schedule.seed;
  options.eio_one_in = schedule.eio_one_in;
  options.short_write_one_in = schedule.short_write_one_in;
  options.short_write_align_bytes = schedule.short_align_bytes;
  auto faulty = std::make_unique<FaultyIoBackend>(target, options);
  for (const FaultSchedule::BlockFault& block : schedule.bad_blocks) {
    faulty->FailBlock(block.offset_bytes, schedule.block_bytes, block.err);
  }
  for (const FaultSchedule::NthSubmitFault& nth : schedule.nth_submits) {
    faulty->FailNthSubmit(nth.n, nth.err);
  }
  if (schedule.short_write_once_bytes >= 0) {
    faulty->ShortWriteOnce(static_cast<uint32_t>(schedule.short_write_once_bytes));
  }
  faulty->SetShortReadOneIn(schedule.short_read_one_in);
  faulty->EagainTimes(schedule.eagain_times);
  faulty->SetEagainOneIn(schedule.eagain_one_in);
  if (schedule.slow > absl::ZeroDuration()) {
    faulty->SetSlowCompletions(schedule.slow, schedule.slow_one_in);
  }
  return faulty;
}

std::string FaultCountsToString(const FaultyIoBackend::FaultCounts& c) {
  return absl::StrCat("bad_block_writes=", c.bad_block_writes,
                      " nth_submit_errors=", c.nth_submit_errors, " random_eios=", c.random_eios,
                      " short_writes=", c.short_writes, " short_reads=", c.short_reads,
                      " eagains=", c.eagains, " slow_completions=", c.slow_completions);
}

}  // namespace blockstore
