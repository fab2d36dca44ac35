// heap_bench.cpp — the context heap: small allocation against glibc malloc, rewind cost
// against the number of objects and of chunks (warm and cold caches), and the fixed cost of a
// snapshot and rewind.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "batch.h"
#include "px/heap.h"

namespace {

using px::Heap;
using px::HeapOptions;
using px::RewindStatus;
using px::Snapshot;

// Big enough that no rewind below returns a chunk to the OS: the default path of a context
// whose working set fits its cache.
constexpr std::size_t kLargeCache = std::size_t{1} << 30;

// ---- small allocation -------------------------------------------------------------------

// The context's way: a snapshot before the batch, one rewind after it.
struct HeapRewind {
    Heap heap{HeapOptions{.cache_bytes = kLargeCache}};
    Snapshot snap;
    void begin() { snap = heap.snapshot(); }
    void* alloc(std::size_t n) { return heap.alloc(n); }
    bool end(std::vector<char*>&) { return heap.rewind(snap) == RewindStatus::ok; }
};

// Explicit frees through the size-class free lists, as refcounting frees objects that die
// inside the callback. After the first batch every allocation is a free-list pop.
struct HeapFree {
    Heap heap{HeapOptions{.cache_bytes = kLargeCache}};
    void begin() {}
    void* alloc(std::size_t n) { return heap.alloc(n); }
    bool end(std::vector<char*>& blocks) {
        for (char* p : blocks)
            heap.free(p);
        return true;
    }
};

// As HeapRewind, but every allocation goes through a function pointer shaped like
// PyMemAllocatorEx::malloc, which is how the interpreter reaches an allocator: the inline
// fast path behind an indirect call.
void* hook_alloc(void* ctx, std::size_t n) { return static_cast<Heap*>(ctx)->alloc(n); }
struct HeapHook {
    Heap heap{HeapOptions{.cache_bytes = kLargeCache}};
    Snapshot snap;
    void* (*volatile fn)(void*, std::size_t) = &hook_alloc; // volatile: never inlined
    void begin() { snap = heap.snapshot(); }
    void* alloc(std::size_t n) { return fn(&heap, n); }
    bool end(std::vector<char*>&) { return heap.rewind(snap) == RewindStatus::ok; }
};

struct Malloc {
    void begin() {}
    void* alloc(std::size_t n) { return std::malloc(n); }
    bool end(std::vector<char*>& blocks) {
        for (char* p : blocks)
            std::free(p);
        return true;
    }
};

// No allocator: every block is the same static buffer. What the harness itself costs per
// allocation (reading the size, writing the byte, keeping the pointer, the loop), the floor
// under every figure above; not an allocator to compare with.
struct NoAllocator {
    alignas(16) static inline char block[8192]; // more than the largest size in python_sizes.h
    void begin() {}
    void* alloc(std::size_t n) {
        asm volatile("" : : "r"(n)); // the size is read, as a real allocator reads it
        return block;
    }
    bool end(std::vector<char*>&) { return true; }
};

[[maybe_unused]] const bool batches_registered = [] {
    px::bench::register_batches<NoAllocator>("alloc_batch/none");
    px::bench::register_batches<HeapRewind>("alloc_batch/heap");
    px::bench::register_batches<HeapFree>("alloc_batch/heap_free");
    px::bench::register_batches<HeapHook>("alloc_batch/heap_hook");
    px::bench::register_batches<Malloc>("alloc_batch/malloc");
    return true;
}();

// ---- rewind cost ----------------------------------------------------------------------------
//
// Only the rewind is timed (manual time); filling the heap is not. Two cache states:
//  * warm (rewind/objects): the rewind runs right after its fill, as a callback's does. One
//    clock read costs tens of nanoseconds, as much as a small rewind, so a small case times a
//    stack of rewinds in one go: `stack` snapshots, each followed by its own fill, then the
//    rewinds newest first, each a full rewind releasing exactly `objects` objects. "Warm" is
//    exact only for small fills: a fill of 10^6 objects streams 48 MB past the heap's
//    metadata, so its rewind starts with that metadata out of L1 and L2.
//  * cold (rewind/objects_cold): one rewind per fill, and before it a 64 MiB buffer is
//    touched, so every case, whatever its fill, starts from the same empty caches and TLBs.

constexpr std::size_t kObjectSize = 32; // a one-digit int, the commonest size in python_sizes.h
using Clock = std::chrono::steady_clock;

bool quick() {
    static const bool value = std::getenv("PX_BENCH_QUICK") != nullptr;
    return value;
}

// Fills cost far more than the rewinds they set up and Google Benchmark sizes runs by the
// timed part only, so each case runs a fixed number of fills: about `budget` allocations.
std::int64_t fills_for(std::size_t per_fill, double budget) {
    if (quick())
        return 1;
    return std::clamp(static_cast<std::int64_t>(budget / static_cast<double>(per_fill)),
                      std::int64_t{20}, std::int64_t{100000});
}

std::size_t stack_for(std::size_t objects) {
    // At most 100 frames (about 70 KiB of frame records): they stay in cache, as the one frame
    // of a real callback does.
    return std::clamp<std::size_t>(100000 / objects, 1, 100);
}

// Every timed stack is one sample. A preemption inside one (the clock is wall time) adds
// milliseconds to it, which would swamp a mean of nanosecond rewinds on a shared machine, so
// the figure reported is the median sample; the mean is reported beside it.
struct RewindTally {
    std::vector<double> ns_per_rewind; // one per timed stack
    double seconds = 0;
    std::uint64_t rewinds = 0;
    std::uint64_t chunks = 0; // chunks released by those rewinds
    bool failed = false;

    void report(benchmark::State& state) {
        if (failed) {
            state.SkipWithError("a rewind was refused");
            return;
        }
        if (ns_per_rewind.empty())
            return;
        auto mid = ns_per_rewind.begin() + static_cast<std::ptrdiff_t>(ns_per_rewind.size() / 2);
        std::nth_element(ns_per_rewind.begin(), mid, ns_per_rewind.end());
        state.SetItemsProcessed(static_cast<std::int64_t>(rewinds));
        state.counters["ns_per_rewind"] = *mid;
        state.counters["ns_mean"] = seconds * 1e9 / static_cast<double>(rewinds);
        state.counters["chunks"] = static_cast<double>(chunks) / static_cast<double>(rewinds);
    }
};

// Times rewinding snaps newest first and adds them to the tally. chunks_before is the heap's
// chunk count, read by the caller (reading it here would warm the heap for a cold case).
void timed_rewinds(benchmark::State& state, Heap& heap, std::vector<Snapshot>& snaps,
                   RewindTally& tally, std::size_t chunks_before) {
    bool failed = false;
    benchmark::DoNotOptimize(Clock::now()); // the clock's own code and data are warm
    const auto t0 = Clock::now();
    for (auto s = snaps.rbegin(); s != snaps.rend(); ++s)
        failed |= heap.rewind(*s) != RewindStatus::ok;
    const auto t1 = Clock::now();
    const double seconds = std::chrono::duration<double>(t1 - t0).count();
    state.SetIterationTime(seconds);
    tally.ns_per_rewind.push_back(seconds * 1e9 / static_cast<double>(snaps.size()));
    tally.seconds += seconds;
    tally.rewinds += snaps.size();
    tally.chunks += chunks_before - heap.stats().chunks;
    tally.failed |= failed;
}

bool fill_small(Heap& heap, std::size_t objects) {
    for (std::size_t i = 0; i < objects; ++i) {
        auto* p = static_cast<char*>(heap.alloc(kObjectSize));
        if (p == nullptr)
            return false;
        *p = static_cast<char>(i);
        benchmark::DoNotOptimize(p);
    }
    return true;
}

// range(0) small objects allocated since the snapshot.
void BM_rewind_objects(benchmark::State& state, std::size_t cache_bytes) {
    const auto objects = static_cast<std::size_t>(state.range(0));
    Heap heap(HeapOptions{.cache_bytes = cache_bytes});
    // The context's own long-lived state: the snapshot then sits inside a chunk, as it does
    // for every callback but a context's very first.
    benchmark::DoNotOptimize(heap.alloc(64));
    std::vector<Snapshot> snaps(stack_for(objects));
    RewindTally tally;
    tally.ns_per_rewind.reserve(static_cast<std::size_t>(state.max_iterations));
    for (auto _ : state) {
        for (Snapshot& s : snaps) {
            s = heap.snapshot();
            if (!fill_small(heap, objects)) {
                state.SkipWithError("allocation failed");
                return;
            }
        }
        timed_rewinds(state, heap, snaps, tally, heap.stats().chunks);
    }
    tally.report(state);
    state.counters["objects"] = static_cast<double>(objects);
}

// More than L1, L2 and the 32 MiB L3 of the machine px_bench was written on, and 16384 pages,
// more than the TLBs map.
constexpr std::size_t kEvictBytes = std::size_t{64} << 20;

// Writes one byte in every cache line of the buffer, so the heap's memory (the Heap itself,
// frames, chunk arrays, descriptors) and the rewind's code start out of the caches and TLBs,
// for every fill size alike.
void evict_caches() {
    static std::vector<unsigned char> buffer(kEvictBytes); // faulted in by the first call
    for (std::size_t i = 0; i < buffer.size(); i += 64)
        buffer[i] = static_cast<unsigned char>(buffer[i] + 1);
    benchmark::ClobberMemory();
}

// range(0) small objects allocated since the snapshot, rewound with cold caches.
void BM_rewind_objects_cold(benchmark::State& state) {
    const auto objects = static_cast<std::size_t>(state.range(0));
    Heap heap(HeapOptions{.cache_bytes = kLargeCache});
    benchmark::DoNotOptimize(heap.alloc(64));
    std::vector<Snapshot> snaps(1);
    RewindTally tally;
    tally.ns_per_rewind.reserve(static_cast<std::size_t>(state.max_iterations));
    for (auto _ : state) {
        snaps[0] = heap.snapshot();
        if (!fill_small(heap, objects)) {
            state.SkipWithError("allocation failed");
            return;
        }
        const std::size_t chunks_before = heap.stats().chunks;
        evict_caches();
        timed_rewinds(state, heap, snaps, tally, chunks_before);
    }
    tally.report(state);
    state.counters["objects"] = static_cast<double>(objects);
}

// range(0) blocks above kMediumMax, each in a chunk of its own: chunks without objects.
constexpr std::size_t kLargeBlock = 40000; // one 64 KiB chunk each

void BM_rewind_chunks(benchmark::State& state) {
    const auto chunks = static_cast<std::size_t>(state.range(0));
    Heap heap(HeapOptions{.cache_bytes = kLargeCache});
    benchmark::DoNotOptimize(heap.alloc(64));
    std::vector<Snapshot> snaps(std::clamp<std::size_t>(64 / chunks, 1, 64));
    RewindTally tally;
    tally.ns_per_rewind.reserve(static_cast<std::size_t>(state.max_iterations));
    for (auto _ : state) {
        for (Snapshot& s : snaps) {
            s = heap.snapshot();
            for (std::size_t i = 0; i < chunks; ++i) {
                auto* p = static_cast<char*>(heap.alloc(kLargeBlock));
                if (p == nullptr) {
                    state.SkipWithError("allocation failed");
                    return;
                }
                *p = 1;
                benchmark::DoNotOptimize(p);
            }
        }
        timed_rewinds(state, heap, snaps, tally, heap.stats().chunks);
    }
    tally.report(state);
}

[[maybe_unused]] const bool registered = [] {
    for (std::int64_t objects : {10, 1000, 100000, 1000000}) {
        auto n = static_cast<std::size_t>(objects);
        const std::int64_t fills = fills_for(n * stack_for(n), 5e7);
        benchmark::RegisterBenchmark("rewind/objects", BM_rewind_objects, kLargeCache)
            ->Arg(objects)
            ->UseManualTime()
            ->Iterations(fills);
        // Each iteration touches 64 MiB, some milliseconds: a fixed, smaller count.
        benchmark::RegisterBenchmark("rewind/objects_cold", BM_rewind_objects_cold)
            ->Arg(objects)
            ->UseManualTime()
            ->Iterations(quick() ? 1 : 150);
        // The default cache: chunks beyond 8 MiB go back to the OS inside the rewind.
        benchmark::RegisterBenchmark("rewind/objects_default_cache", BM_rewind_objects,
                                     HeapOptions{}.cache_bytes)
            ->Arg(objects)
            ->UseManualTime()
            ->Iterations(fills_for(n * stack_for(n), 1e7));
    }
    for (std::int64_t chunks : {1, 8, 64, 512}) {
        benchmark::RegisterBenchmark("rewind/chunks", BM_rewind_chunks)
            ->Arg(chunks)
            ->UseManualTime()
            ->Iterations(
                fills_for(static_cast<std::size_t>(std::max<std::int64_t>(chunks, 64)), 2e6));
    }
    return true;
}();

// ---- the fixed cost of a callback -------------------------------------------------------------

void BM_snapshot_rewind_empty(benchmark::State& state) {
    Heap heap;
    benchmark::DoNotOptimize(heap.alloc(64));
    bool failed = false;
    for (auto _ : state) {
        Snapshot s = heap.snapshot();
        benchmark::DoNotOptimize(s);
        failed |= heap.rewind(s) != RewindStatus::ok;
    }
    if (failed)
        state.SkipWithError("a rewind was refused");
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_snapshot_rewind_empty)->Name("snapshot_rewind/empty");

} // namespace
