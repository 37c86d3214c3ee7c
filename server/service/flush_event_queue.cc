#include "server/service/flush_event_queue.h"

#include <utility>

namespace blockstore {

void FlushEventQueue::AddPage(v1::PageCompletion page) {
  if (page.code() == 0) {
    if (!entries_.empty()) {
      Entry& last = entries_.back();
      if (last.count > 0 && last.first_page + last.count == page.page_index()) {
        ++last.count;
        return;
      }
    }
    Entry run;
    run.first_page = page.page_index();
    run.count = 1;
    entries_.push_back(std::move(run));
    return;
  }
  Entry failed;
  failed.failed = std::move(page);
  entries_.push_back(std::move(failed));
}

void FlushEventQueue::SetSummary(v1::FlushSummary summary) { summary_ = std::move(summary); }

void FlushEventQueue::PopPage(v1::PageCompletion* page) {
  Entry& front = entries_.front();
  if (front.count == 0) {
    *page = std::move(front.failed);
    entries_.pop_front();
    return;
  }
  page->Clear();
  page->set_page_index(front.first_page);
  ++front.first_page;
  if (--front.count == 0) entries_.pop_front();
}

bool FlushEventQueue::Pop(bool group, size_t max_group_bytes, v1::FlushEvent* event) {
  event->Clear();
  if (entries_.empty()) {
    if (!summary_.has_value()) return false;
    *event->mutable_summary() = std::move(*summary_);
    summary_.reset();
    return true;
  }
  if (!group) {
    PopPage(event->mutable_page());
    return true;
  }
  v1::PageCompletions* pages = event->mutable_pages();
  size_t bytes = 0;
  while (!entries_.empty() && (pages->pages_size() == 0 || bytes < max_group_bytes)) {
    v1::PageCompletion* page = pages->add_pages();
    PopPage(page);
    bytes += page->ByteSizeLong() + 8;  // + tag and length, generously
  }
  return true;
}

void FlushEventQueue::Clear() {
  entries_.clear();
  summary_.reset();
}

}  // namespace blockstore
