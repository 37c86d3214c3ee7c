// ThreadSanitizer suppressions for the io tests, compiled in only under -fsanitize=thread.
//
// Debian's libabsl is built without NDEBUG, so absl::Mutex runs its deadlock detector on every
// Lock(): a global lock-order graph (GraphCycles) guarded by abseil's own spinlock. That library
// is not built with TSan, so TSan cannot see the spinlock, only the memmove calls inside the
// graph, and reports them as races between threads that each held the spinlock. The report
// always has GraphCycles in its stack; no code of ours is involved. Nothing else is suppressed:
// the lock-order checking itself stays on, and TSan's own deadlock detector sees our mutexes
// through AnnotatedMutexLock.

#if defined(__SANITIZE_THREAD__)
extern "C" const char* __tsan_default_suppressions() {
  return "race:absl::*synchronization_internal::GraphCycles::\n";
}
#endif
