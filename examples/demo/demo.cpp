// px_demo — one context heap through a few simulated callbacks.
//
// A parallel context runs each Python callback between a snapshot and a rewind of its heap:
// whatever the callback allocated is gone at once afterwards, and objects that need a
// dealloc (a socket, a file) get it first. This program does the same with plain C++ data
// and prints what the heap reports at each step. Read it top to bottom alongside its output.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "px/guards.h"
#include "px/heap.h"

namespace {

void print_header() {
    std::printf("  %-22s %10s %10s %7s %11s %8s %8s\n", "step", "in use", "high water", "chunks",
                "cached KiB", "allocs", "rewinds");
}

void print_stats(const char* step, const px::Heap& heap) {
    px::HeapStats s = heap.stats();
    std::printf("  %-22s %10zu %10zu %7zu %11zu %8llu %8llu\n", step, s.bytes_in_use, s.high_water,
                s.chunks, s.cached_bytes / 1024, static_cast<unsigned long long>(s.allocations),
                static_cast<unsigned long long>(s.rewinds));
}

// Something a callback opens and must close, like a socket object with a tp_dealloc.
struct Resource {
    int id;
};

void close_resource(void* object) {
    std::printf("    dealloc: resource #%d closed by the rewind\n",
                static_cast<Resource*>(object)->id);
}

// A callback's work: `objects` small allocations of varied sizes, a third of which die
// early (as refcounting frees them) and go back to the size-class free lists.
bool burst(px::Heap& heap, int objects) {
    void* previous = nullptr;
    for (int i = 0; i < objects; ++i) {
        auto size = static_cast<std::size_t>(16 + (i * 37) % 200);
        void* p = heap.alloc(size);
        if (p == nullptr)
            return false;
        std::memset(p, 0, size);
        if (i % 3 == 2)
            heap.free(previous);
        previous = p;
    }
    return true;
}

void show_owner(const char* what, const void* p, const px::Heap& mine) {
    const px::Heap* h = px::owner_of(p);
    std::printf("  %-30s owner: %-16s owner_of: %s\n", what, px::describe(px::owner(p)),
                h == &mine     ? "this heap"
                : h == nullptr ? "nullptr (main)"
                               : "another heap");
}

void show_refused(const char* what, px::Heap& heap, const px::Snapshot& snap) {
    std::printf("  %-28s -> %s\n", what, px::describe(heap.rewind(snap)));
}

} // namespace

int main() {
    std::printf("== A context heap and its long-lived data ==\n");
    px::Heap heap;
    // Allocated before any snapshot: lives as long as the heap (the context's own state).
    auto* table = static_cast<std::uint64_t*>(heap.alloc(256 * sizeof(std::uint64_t)));
    if (table == nullptr)
        return 1;
    for (int i = 0; i < 256; ++i)
        table[i] = static_cast<std::uint64_t>(i) * i;
    print_header();
    print_stats("setup", heap);

    std::printf("\n== Five callbacks, each between snapshot() and rewind() ==\n");
    std::printf("  (a 'callback' row is read just before its rewind; bytes include headers)\n");
    px::DeallocList tracked(heap);
    const int bursts[] = {1000, 5000, 200, 60000, 10};
    for (int n = 0; n < 5; ++n) {
        px::Snapshot snap = heap.snapshot();
        if (!burst(heap, bursts[n]))
            return 1;
        if (n == 1) // one large block: it gets a chunk of its own
            if (heap.alloc(std::size_t{100} * 1024) == nullptr)
                return 1;
        auto* res = static_cast<Resource*>(heap.alloc(sizeof(Resource)));
        if (res == nullptr)
            return 1;
        res->id = n + 1;
        if (tracked.track(res, close_resource) != px::TrackStatus::ok)
            return 1;
        if (n == 2) { // this callback closes its resource itself: no dealloc at the rewind
            tracked.untrack(res);
            heap.free(res);
            std::printf("    resource #%d closed by the callback itself\n", n + 1);
        }
        char before[32];
        std::snprintf(before, sizeof before, "callback %d (%d objs)", n + 1, bursts[n]);
        print_stats(before, heap);
        px::RewindStatus st = heap.rewind(snap);
        if (st != px::RewindStatus::ok) {
            std::printf("unexpected: %s\n", px::describe(st));
            return 1;
        }
        char after[32];
        std::snprintf(after, sizeof after, "rewind %d", n + 1);
        print_stats(after, heap);
    }
    std::printf("  The long-lived table survived every rewind: table[255] = %llu\n",
                static_cast<unsigned long long>(table[255]));

    std::printf("\n== Who owns a pointer? ==\n");
    px::Heap other;
    void* theirs = other.alloc(64);
    void* mine = heap.alloc(64);
    void* from_malloc = std::malloc(64);
    int on_stack = 0;
    {
        px::Context ctx{.heap = &heap, .worker = 1};
        px::ContextScope scope(ctx); // this thread now runs a context of `heap`
        std::printf("  in_parallel_context() = %s\n", px::in_parallel_context() ? "true" : "false");
        show_owner("block of this context's heap", mine, heap);
        show_owner("block of another heap", theirs, heap);
        show_owner("malloc() block", from_malloc, heap);
        show_owner("stack variable", &on_stack, heap);
    }
    std::printf("  outside the scope, in_parallel_context() = %s\n",
                px::in_parallel_context() ? "true" : "false");
    std::free(from_malloc);

    std::printf("\n== Rewinds the heap refuses (and leaves the heap unchanged) ==\n");
    px::Snapshot once = heap.snapshot();
    (void)heap.rewind(once);
    show_refused("the same snapshot again", heap, once);
    show_refused("a snapshot of another heap", heap, other.snapshot());
    show_refused("a default Snapshot{}", heap, px::Snapshot{});

    std::printf("\n== A byte limit ==\n");
    px::Heap limited(px::HeapOptions{.limit = std::size_t{64} * 1024});
    px::Snapshot snap = limited.snapshot();
    int got = 0;
    while (limited.alloc(1000) != nullptr)
        ++got;
    px::HeapStats s = limited.stats();
    std::printf("  limit 64 KiB: %d blocks of 1000 B fit, then alloc() returned nullptr "
                "(in use %zu, failed %llu)\n",
                got, s.bytes_in_use, static_cast<unsigned long long>(s.failed));
    (void)limited.rewind(snap);
    const std::size_t in_use = limited.stats().bytes_in_use;
    const bool again = limited.alloc(1000) != nullptr;
    std::printf("  after the rewind: in use %zu, and alloc(1000) %s\n", in_use,
                again ? "succeeds again" : "still fails");
    return 0;
}
