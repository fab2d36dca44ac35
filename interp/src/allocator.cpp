// allocator.cpp — a context's allocations come from its heap.
//
// The patched MEM and OBJ entry points (PyMem_Malloc, PyObject_Free, ..., patch 0018) call
// PxInterp_context_* while the thread is in a context, before the installed allocator: one
// TLS test on the main thread's path, no extra indirect call (the PyMem_SetAllocator wrapper
// this replaces cost the main thread 2.5 % of its instructions). Outside contexts pymalloc
// runs as usual; for a block it did not allocate it asks whether the block is context memory
// and, if so, calls PxInterp_free_context_block / PxInterp_realloc_context_block. The RAW
// domain is left alone: it is thread-safe malloc already, and thread states come from it.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <unistd.h>

#include <pxkit.h>

#include "callbacks.h"
#include "px/guards.h"
#include "px/interp.h"

namespace {

using px::Context;
using px::Heap;

[[noreturn]] void stray(const char* what, void* p) {
    std::fprintf(stderr,
                 "pxkit: %s of %p, main-thread memory, on a worker in a parallel context: a "
                 "main-owned object was written or destroyed there (a missing guard)\n",
                 what, p);
    std::abort();
}

Context* current() noexcept { return PxCtx_current; }

// The heap whose limit refused an allocation in this callback, and its own limit: it lends
// kLimitReserve bytes beyond it until the callback ends (end_callback_memory).
constexpr std::size_t kLimitReserve = std::size_t{1} << 20;
__thread Heap* t_limited = nullptr;
__thread std::size_t t_limit = 0;

// The heap said no to `size` bytes. When its limit did (not the OS: a request counts at
// most 1.25 x its size plus 64 bytes of header and padding against the limit), the callback
// is over budget: the MemoryError CPython raises now, its traceback and its description
// need a little memory, so the heap lends some, once per callback. Past that loan
// allocations fail as before.
[[gnu::cold, gnu::noinline]] void* refused(Heap* heap, std::size_t size) {
    std::size_t limit = heap->limit();
    if (t_limited == nullptr && limit != 0 &&
        heap->stats().bytes_held + size + size / 4 + 64 > limit) {
        t_limited = heap;
        t_limit = limit;
        heap->set_limit(limit + kLimitReserve);
    }
    return nullptr;
}

[[gnu::always_inline]] inline void* ctx_alloc(Context* ctx, std::size_t n) {
    void* p = ctx->heap->alloc(n ? n : 1); // CPython never asks a context for 0 bytes it keeps
    return p != nullptr ? p : refused(ctx->heap, n);
}

} // namespace

namespace px::interp {

std::size_t limit_hit() { return t_limited != nullptr ? t_limit : 0; }

void end_callback_memory() {
    if (t_limited != nullptr) {
        t_limited->set_limit(t_limit);
        t_limited = nullptr;
    }
}

bool context_heap_options(px::HeapOptions& options) {
    // Poison mode: rewound chunks become PROT_NONE, so any pointer into a context's memory
    // that outlived the callback faults at its next use instead of reading stale data.
    const char* poison = std::getenv("PXKIT_POISON");
    options.poison_rewound = poison != nullptr && poison[0] != '\0' && poison[0] != '0';
    const char* limit = std::getenv("PXKIT_CONTEXT_LIMIT");
    if (limit == nullptr || limit[0] == '\0') {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        options.limit = pages > 0 && page > 0
                            ? static_cast<std::size_t>(pages) * static_cast<std::size_t>(page) / 4
                            : 0;
        return true;
    }
    char* end = nullptr;
    errno = 0;
    unsigned long long n = std::strtoull(limit, &end, 10);
    unsigned shift = 0;
    switch (*end) {
    case 'K': case 'k': shift = 10; ++end; break;
    case 'M': case 'm': shift = 20; ++end; break;
    case 'G': case 'g': shift = 30; ++end; break;
    default: break;
    }
    if (end == limit || *end != '\0' || errno != 0 || limit[0] == '-' ||
        n > (SIZE_MAX >> shift)) {
        PyErr_Format(PyExc_ValueError,
                     "PXKIT_CONTEXT_LIMIT=%.100s: expected a byte count, optionally with K, M or "
                     "G (e.g. 512M), or 0 for no limit",
                     limit);
        return false;
    }
    options.limit = static_cast<std::size_t>(n) << shift;
    return true;
}

} // namespace px::interp

extern "C" void* PxInterp_context_malloc(std::size_t size) { return ctx_alloc(current(), size); }

extern "C" void* PxInterp_context_calloc(std::size_t nelem, std::size_t elsize) {
    if (elsize != 0 && nelem > SIZE_MAX / elsize)
        return nullptr; // CPython raises MemoryError; no heap was asked
    void* p = ctx_alloc(current(), nelem * elsize);
    if (p != nullptr)
        std::memset(p, 0, nelem * elsize);
    return p;
}

extern "C" void* PxInterp_context_realloc(void* p, std::size_t size) {
    Context* ctx = current();
    if (p == nullptr)
        return ctx_alloc(ctx, size);
    if (!px::is_context_memory(p))
        stray("realloc", p);
    Heap* heap = px::owner_of(p);
    if (heap == ctx->heap || heap == ctx->session) { // the session's stays the session's
        void* q = heap->realloc(p, size ? size : 1);
        return q != nullptr ? q : refused(heap, size);
    }
    // Another context's block (it cannot be resized from here): copy it into ours.
    void* q = ctx_alloc(ctx, size);
    if (q != nullptr)
        std::memcpy(q, p, std::min(size, Heap::usable_size(p)));
    return q;
}

namespace {

// Every case but the common one, out of line so the common one saves few registers.
[[gnu::noinline]] void free_other(void* p, Heap* heap, Context* ctx) {
    if (p == nullptr)
        return;
    if (heap == nullptr && !px::is_context_memory(p)) [[unlikely]]
        stray("free", p);
    // Freed into its own heap, or into the session heap, which this thread uses now and no
    // rewind reclaims (an overwritten value stored on a connection's protocol instance);
    // another heap's block is left to that heap's rewind (a heap is used by one thread at a
    // time, and the rewind reclaims it anyway).
    if (ctx->deallocs != nullptr && ctx->deallocs->size() != 0)
        ctx->deallocs->untrack(p); // a PX_DEALLOC object died normally (deallocs.cpp)
    if ((heap == ctx->heap || heap == ctx->session) && heap != px::interp::t_frees_skipped)
        heap->free(p);
}

} // namespace

// The common case inline: a block of the context's own heap, while no PX_DEALLOC object is
// tracked and frees are not suspended. The lookup reads only the region, as the
// interpreter's own tests do (Include/pxkit.h: no heap in malloc mode exists while contexts
// run), so no call is left on this path and nothing needs saving.
extern "C" void PxInterp_context_free(void* p) {
    auto* heap = static_cast<Heap*>(PxHeap_owner(p)); // nullptr for p == nullptr
    Context* ctx = current();
    if (heap == ctx->heap && heap != px::interp::t_frees_skipped &&
        (ctx->deallocs == nullptr || ctx->deallocs->size() == 0)) [[likely]] {
        if (p == nullptr)
            __builtin_unreachable(); // it is in the heap: Heap::free need not test it
        heap->free(p);
        return;
    }
    free_other(p, heap, ctx);
}

extern "C" void PxInterp_free_context_block(void*) {
    // Outside any context (the main thread, or a worker in a main-heap section): left to the
    // owning context's rewind, which reclaims it without touching the heap from here.
}

extern "C" void* PxInterp_realloc_context_block(void* p, std::size_t size) {
    // Outside a context the result must be main memory: copy the block out.
    void* q = PyObject_Malloc(size ? size : 1);
    if (q != nullptr)
        std::memcpy(q, p, std::min(size, Heap::usable_size(p)));
    return q;
}
