// context_bench.cpp — what the hooks ask on every refcount and every free: "am I in a
// parallel context?" and "who owns this pointer?". Each loop asks kProbes times per
// iteration; alongside an empty loop over the same pointers, so the difference is the check.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "px/guards.h"
#include "px/heap.h"

namespace {

constexpr std::size_t kProbes = 1024;

// kProbes small blocks from a context heap, and as many from malloc.
struct Probes {
    px::Heap heap;
    std::vector<void*> context_blocks;
    std::vector<void*> main_blocks;
    Probes() {
        for (std::size_t i = 0; i < kProbes; ++i) {
            context_blocks.push_back(heap.alloc(32));
            main_blocks.push_back(std::malloc(32));
        }
    }
    ~Probes() {
        for (void* p : main_blocks)
            std::free(p);
    }
    Probes(const Probes&) = delete;
    Probes& operator=(const Probes&) = delete;
};

Probes& probes() {
    static Probes p;
    return p;
}

// False (and the benchmark marked failed) when the heap could not provide the probes.
bool probes_ready(benchmark::State& state) {
    for (void* p : probes().context_blocks)
        if (p == nullptr) {
            state.SkipWithError("context heap allocation failed");
            return false;
        }
    return true;
}

void finish(benchmark::State& state) {
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kProbes));
}

void BM_empty_loop(benchmark::State& state) {
    if (!probes_ready(state))
        return;
    const std::vector<void*>& ptrs = probes().context_blocks;
    for (auto _ : state)
        for (void* p : ptrs)
            benchmark::DoNotOptimize(p);
    finish(state);
}
BENCHMARK(BM_empty_loop)->Name("context/empty_loop");

void in_parallel_context_loop(benchmark::State& state) {
    if (!probes_ready(state))
        return;
    const std::vector<void*>& ptrs = probes().context_blocks;
    for (auto _ : state)
        for (void* p : ptrs) {
            benchmark::DoNotOptimize(p);
            bool inside = px::in_parallel_context();
            benchmark::DoNotOptimize(inside);
        }
    finish(state);
}

void BM_in_parallel_context_main(benchmark::State& state) { in_parallel_context_loop(state); }
BENCHMARK(BM_in_parallel_context_main)->Name("context/in_parallel_context/main");

void BM_in_parallel_context_worker(benchmark::State& state) {
    px::Context ctx{.heap = &probes().heap, .worker = 1};
    px::ContextScope scope(ctx);
    in_parallel_context_loop(state);
}
BENCHMARK(BM_in_parallel_context_worker)->Name("context/in_parallel_context/worker");

template <class Check>
void pointer_loop(benchmark::State& state, const std::vector<void*>& ptrs, Check check) {
    if (!probes_ready(state))
        return;
    for (auto _ : state)
        for (void* p : ptrs) {
            benchmark::DoNotOptimize(p);
            auto answer = check(p);
            benchmark::DoNotOptimize(answer);
        }
    finish(state);
}

void BM_owner_of_context(benchmark::State& state) {
    pointer_loop(state, probes().context_blocks, [](void* p) { return px::owner_of(p); });
}
BENCHMARK(BM_owner_of_context)->Name("context/owner_of/context_memory");

void BM_owner_of_main(benchmark::State& state) {
    pointer_loop(state, probes().main_blocks, [](void* p) { return px::owner_of(p); });
}
BENCHMARK(BM_owner_of_main)->Name("context/owner_of/main_memory");

void BM_is_context_memory_main(benchmark::State& state) {
    pointer_loop(state, probes().main_blocks, [](void* p) { return px::is_context_memory(p); });
}
BENCHMARK(BM_is_context_memory_main)->Name("context/is_context_memory/main_memory");

// The full three-way answer a worker's hook needs: owner_of plus the TLS context.
void BM_owner_in_context(benchmark::State& state) {
    px::Context ctx{.heap = &probes().heap, .worker = 1};
    px::ContextScope scope(ctx);
    pointer_loop(state, probes().context_blocks, [](void* p) { return px::owner(p); });
}
BENCHMARK(BM_owner_in_context)->Name("context/owner/worker_own_memory");

} // namespace
