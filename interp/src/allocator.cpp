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
#include <cstdio>
#include <cstdlib>
#include <cstring>

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

void* ctx_alloc(Context* ctx, std::size_t n) {
    return ctx->heap->alloc(n ? n : 1); // CPython never asks a context for 0 bytes it keeps
}

} // namespace

extern "C" void* PxInterp_context_malloc(std::size_t size) { return ctx_alloc(current(), size); }

extern "C" void* PxInterp_context_calloc(std::size_t nelem, std::size_t elsize) {
    if (elsize != 0 && nelem > SIZE_MAX / elsize)
        return nullptr;
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
    if (heap == ctx->heap || heap == ctx->session) // the session's stays the session's
        return heap->realloc(p, size ? size : 1);
    // Another context's block (it cannot be resized from here): copy it into ours.
    void* q = ctx_alloc(ctx, size);
    if (q != nullptr)
        std::memcpy(q, p, std::min(size, Heap::usable_size(p)));
    return q;
}

extern "C" void PxInterp_context_free(void* p) {
    if (p == nullptr)
        return;
    Heap* heap = px::owner_of(p);
    if (heap == nullptr && !px::is_context_memory(p)) [[unlikely]]
        stray("free", p);
    // Freed into its own heap, or into the session heap, which this thread uses now and no
    // rewind reclaims (an overwritten value stored on a connection's protocol instance);
    // another heap's block is left to that heap's rewind (a heap is used by one thread at a
    // time, and the rewind reclaims it anyway).
    Context* ctx = current();
    if (ctx->deallocs != nullptr && ctx->deallocs->size() != 0) [[unlikely]]
        ctx->deallocs->untrack(p); // a PX_DEALLOC object died normally (deallocs.cpp)
    if ((heap == ctx->heap || heap == ctx->session) && heap != px::interp::t_frees_skipped)
        heap->free(p);
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
