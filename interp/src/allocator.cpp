// allocator.cpp — the MEM/OBJ allocator dispatch: a context's allocations go to its heap.
//
// CPython reaches every object allocation through the MEM and OBJ domains; PyMem_SetAllocator
// puts this dispatch in front of whatever was installed (pymalloc, or the debug hooks), so the
// main thread keeps its allocator and a worker inside a context gets its heap. A pointer is
// routed by ownership, not by thread: context memory goes back to its heap, anything else to
// the allocator before us. The RAW domain is left alone: it is thread-safe malloc already,
// and thread states are allocated from it.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "px/guards.h"
#include "px/interp.h"

namespace px::interp {
namespace {

PyMemAllocatorEx g_prev_mem;
PyMemAllocatorEx g_prev_obj;
bool g_installed = false;

[[noreturn]] void stray(const char* what, void* p) {
    std::fprintf(stderr,
                 "pxkit: %s of %p, main-thread memory, on a worker in a parallel context: a "
                 "main-owned object was written or destroyed there (a missing guard)\n",
                 what, p);
    std::abort();
}

void* ctx_alloc(Context* ctx, std::size_t n) {
    return ctx->heap->alloc(n ? n : 1); // CPython never asks a context for 0 bytes it keeps
}

template <PyMemAllocatorEx* Prev> void* dispatch_malloc(void*, std::size_t n) {
    if (Context* ctx = PxCtx_current)
        return ctx_alloc(ctx, n);
    return Prev->malloc(Prev->ctx, n);
}

template <PyMemAllocatorEx* Prev> void* dispatch_calloc(void*, std::size_t count, std::size_t n) {
    if (Context* ctx = PxCtx_current) {
        if (n != 0 && count > SIZE_MAX / n)
            return nullptr;
        void* p = ctx_alloc(ctx, count * n);
        if (p != nullptr)
            std::memset(p, 0, count * n);
        return p;
    }
    return Prev->calloc(Prev->ctx, count, n);
}

template <PyMemAllocatorEx* Prev> void* dispatch_realloc(void*, void* p, std::size_t n) {
    Context* ctx = PxCtx_current;
    if (p != nullptr && is_context_memory(p)) {
        Heap* heap = owner_of(p);
        if (ctx != nullptr && heap == ctx->heap)
            return heap->realloc(p, n ? n : 1);
        // Context memory that is not ours to resize: copy it out into fresh memory.
        void* q = ctx ? ctx_alloc(ctx, n) : Prev->malloc(Prev->ctx, n);
        if (q != nullptr)
            std::memcpy(q, p, std::min(n, Heap::usable_size(p)));
        return q;
    }
    if (ctx != nullptr) {
        if (p != nullptr)
            stray("realloc", p);
        return ctx_alloc(ctx, n);
    }
    return Prev->realloc(Prev->ctx, p, n);
}

template <PyMemAllocatorEx* Prev> void dispatch_free(void*, void* p) {
    if (p == nullptr)
        return;
    if (is_context_memory(p)) {
        // Freed into its own heap by the worker using it. From anywhere else it is left to
        // the rewind: the heap is not thread-safe and the rewind reclaims it anyway.
        Context* ctx = PxCtx_current;
        if (ctx != nullptr && owner_of(p) == ctx->heap)
            ctx->heap->free(p);
        return;
    }
    if (PxCtx_current != nullptr)
        stray("free", p);
    Prev->free(Prev->ctx, p);
}

template <PyMemAllocatorEx* Prev> PyMemAllocatorEx make_dispatch() {
    return PyMemAllocatorEx{nullptr, dispatch_malloc<Prev>, dispatch_calloc<Prev>,
                            dispatch_realloc<Prev>, dispatch_free<Prev>};
}

} // namespace

void install_allocator() {
    if (g_installed)
        return;
    PyMem_GetAllocator(PYMEM_DOMAIN_MEM, &g_prev_mem);
    PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &g_prev_obj);
    PyMemAllocatorEx mem = make_dispatch<&g_prev_mem>();
    PyMemAllocatorEx obj = make_dispatch<&g_prev_obj>();
    PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &mem);
    PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &obj);
    g_installed = true;
}

} // namespace px::interp
