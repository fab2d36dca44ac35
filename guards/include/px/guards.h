// px/guards.h — who is running, who owns what, and what must happen before memory goes.
//
// The contract of px_guards:
//   * Context detection. A worker thread that runs a callback enters a Context; while it is
//     entered, in_parallel_context() is true on that thread and current_context() returns
//     it. The pointer is a thread-local in the initial-exec TLS model, so the check is one
//     load relative to %fs and never a call. It is never inferred from who holds a lock.
//   * The main thread registers itself once; is_main_thread() is then true on it alone.
//   * Ownership. owner(p) says whether p is main-thread memory, memory of the current
//     context's heap, of its session heap, or of another context's heap (px::owner_of
//     underneath: O(1)).
//   * PX_DEALLOC tracking. A DeallocList remembers (object, dealloc callback) pairs on one
//     heap. When the heap is rewound, the callbacks of objects tracked since the snapshot
//     run newest first, exactly once, before their memory is released. An object that dies
//     earlier is untracked in O(1) and its callback never runs.
//   * Cloning. clone() deep-copies a clonable value into the heap of whoever allocates now,
//     so it can cross from a context to the main thread and back. Only clone() needs
//     Python; the rest of px_guards is usable without it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "px/heap.h"

// CPython's `typedef struct _object PyObject`, so this header does not need Python.h.
struct _object;

namespace px {
class DeallocList;
}

// One parallel context as seen by the thread running it. The runtime owns these; guards
// only publishes which one is current. Its C name is what Include/pxkit.h forward-declares.
extern "C" struct PxContext {
    px::Heap* heap = nullptr; // where the callback's objects are allocated
    std::uint32_t worker = 0; // 1..N for workers
    void* user = nullptr;     // the runtime's own state for this context
    // State that outlives callbacks (a connection's protocol instance and what is stored on
    // it) lives here, or nullptr. Used by the same thread as `heap`, never snapshotted: what
    // is freed in it is reused at once.
    px::Heap* session = nullptr;
    // PX_DEALLOC objects made in `heap` are tracked here (nullptr: none are).
    px::DeallocList* deallocs = nullptr;
};
// Include/pxkit.h reads a context's heap from C as its first member.
static_assert(offsetof(PxContext, heap) == 0);

// Defined in guards.cpp under C names, because the patched interpreter reads them from C
// (Include/pxkit.h). __thread rather than thread_local: no TLS wrapper call.
extern "C" {
extern __thread PxContext* PxCtx_current __attribute__((tls_model("initial-exec")));
extern __thread bool PxCtx_main_thread __attribute__((tls_model("initial-exec")));
}

namespace px {

using Context = ::PxContext;

inline Context* current_context() noexcept { return PxCtx_current; }
inline bool in_parallel_context() noexcept { return PxCtx_current != nullptr; }
inline bool is_main_thread() noexcept { return PxCtx_main_thread; }

// Marks the calling thread as the main thread. Returns false, changing nothing, if another
// thread registered first (registering the same thread twice is fine).
bool register_main_thread() noexcept;
// Forgets the registration (for tests and for interpreter shutdown).
void unregister_main_thread() noexcept;

// Enters `ctx` on this thread for the scope's lifetime; restores the previous one after.
class ContextScope {
public:
    explicit ContextScope(Context& ctx) noexcept : previous_(PxCtx_current) {
        PxCtx_current = &ctx;
    }
    ~ContextScope() { PxCtx_current = previous_; }
    ContextScope(const ContextScope&) = delete;
    ContextScope& operator=(const ContextScope&) = delete;

private:
    Context* previous_;
};

// Makes `ctx` allocate from `heap` for the scope's lifetime (its session heap, to keep state
// beyond the callback), then restores the heap it had. Ownership follows: meanwhile owner()
// calls `heap`'s memory the current context's. Scopes nest.
class HeapSwitch {
public:
    HeapSwitch(Context& ctx, Heap& heap) noexcept : ctx_(ctx), previous_(ctx.heap) {
        ctx.heap = &heap;
    }
    ~HeapSwitch() { ctx_.heap = previous_; }
    HeapSwitch(const HeapSwitch&) = delete;
    HeapSwitch& operator=(const HeapSwitch&) = delete;

private:
    Context& ctx_;
    Heap* previous_;
};

enum class Owner { main, current_context, session, other_context };

inline Owner owner(const void* p) noexcept {
    Heap* h = owner_of(p);
    if (h == nullptr)
        return Owner::main;
    Context* ctx = PxCtx_current;
    if (ctx == nullptr)
        return Owner::other_context;
    if (ctx->heap == h)
        return Owner::current_context;
    return ctx->session == h ? Owner::session : Owner::other_context;
}

// "main", "current context", "session", "another context"
const char* describe(Owner o) noexcept;

using DeallocFn = void (*)(void* object);

enum class TrackStatus { ok, already_tracked, out_of_memory };

// PX_DEALLOC tracking for one heap. Not thread-safe: used by the thread that uses the heap.
// The list must outlive the heap's rewinds that concern it; destroying it cancels whatever
// is still tracked (those callbacks never run).
class DeallocList {
public:
    explicit DeallocList(Heap& heap) noexcept : heap_(heap) {}
    ~DeallocList();
    DeallocList(const DeallocList&) = delete;
    DeallocList& operator=(const DeallocList&) = delete;

    // Tracks `object`: `fn(object)` runs at the rewind of the innermost snapshot open now,
    // unless untrack(key) comes first. `key` names the object in untrack() and is_tracked()
    // (by default the object itself; an embedder that learns of deaths from its allocator
    // passes the start of the object's memory block). Counts against the heap's limit.
    TrackStatus track(void* object, DeallocFn fn, const void* key = nullptr) noexcept;
    // The object died normally: forget it. O(1). False if it was not tracked (also when its
    // callback is running now: a dealloc that untracks itself is harmless).
    bool untrack(const void* key) noexcept;
    bool is_tracked(const void* key) const noexcept;
    // Runs every tracked object's callback now, newest first, each once, as the rewind
    // would (their memory stays until the rewind): for an embedder that must run them where
    // it chooses, before the rewind. Objects tracked by a callback meanwhile run too.
    // Returns how many ran.
    std::size_t run_all() noexcept;
    std::size_t size() const noexcept { return index_.size(); }
    Heap& heap() const noexcept { return heap_; }

private:
    struct Record;
    static void run(void* record) noexcept;
    void unlink(Record* record) noexcept;

    Heap& heap_;
    std::unordered_map<const void*, Record*> index_;
    Record* newest_ = nullptr; // records newest first, through Record::older
};

// Clonable values are exactly None, bool, int, float, complex, str, bytes, bytearray and
// tuple, list, dict, set, frozenset of clonable values: exact types, never subclasses
// (Counter, OrderedDict, namedtuple are refused). Everything else raises the clone error:
//     result[2]['conn']: sqlite3.Connection is not clonable, only None, bool, ...
// Paths start at `root`, then `[i]` for list and tuple items, `[repr(key)]` for dict values
// (at most 60 characters), `.key(i)` for the i-th key (in insertion order) of a dict when
// the key itself is the problem, `{...}` for a set or frozenset element.
struct CloneOptions {
    _object* clone_error = nullptr; // exception type to raise (parallel.CloneError, a
                                    // TypeError subclass); nullptr -> TypeError
    // Main-owned (not context memory) int, float, complex, str and bytes are immutable and
    // outlive any context, so by default they are shared (same object, new reference)
    // rather than copied. False copies them too (unit tests, where nothing is context
    // memory, use it to prove that copies are made). Containers and bytearray are always
    // copied; None, True and False are always shared.
    bool share_main_scalars = true;
    const char* root = "result"; // path prefix used in messages
};

// Deep-copies `obj` into memory of whoever is allocating now (the caller arranges that: on
// the main thread, or a worker acting as the main thread). Returns a new reference, or
// nullptr with an exception set. Cycles and shared references inside `obj` are preserved
// (`l.append(l)` copies to a list that contains itself). No Python code runs: no __repr__,
// __hash__ or __eq__ of user classes, and the garbage collector is paused while it works.
// Nesting depth is limited only by memory (an explicit work stack, not recursion). On
// error everything made so far is released and the sources' refcounts are unchanged.
_object* clone(_object* obj, const CloneOptions& options);

} // namespace px
