// batch.h — the allocation workload every allocator in px_bench is measured with.
//
// A callback allocates many small objects, touches them, and is done with all of them at
// once. So a batch allocates kBatchSize blocks of one size, writes a byte into each and keeps
// the pointer, then hands the whole batch back: the context heap with one rewind, malloc-style
// allocators with one free per block. Everything but the allocator calls is the same code.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace px::bench {

constexpr std::size_t kBatchSize = 1000;

// Allocator is a type with begin(), alloc(size) -> void* and end(std::vector<char*>&).
template <class Allocator> void run_batches(benchmark::State& state, Allocator& allocator) {
    const auto size = static_cast<std::size_t>(state.range(0));
    std::vector<char*> blocks(kBatchSize);
    for (auto _ : state) {
        allocator.begin();
        for (std::size_t i = 0; i < kBatchSize; ++i) {
            auto* p = static_cast<char*>(allocator.alloc(size));
            if (p == nullptr) {
                state.SkipWithError("allocation failed");
                return;
            }
            *p = static_cast<char>(i);
            // Forces the store and the allocator's state out to memory, as the interpreter
            // code running between two allocations would.
            benchmark::DoNotOptimize(p);
            blocks[i] = p;
        }
        if (!allocator.end(blocks)) {
            state.SkipWithError("releasing the batch failed");
            return;
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatchSize));
}

// Small sizes compared across allocators: common CPython object sizes.
inline void small_sizes(benchmark::internal::Benchmark* b) {
    for (int size : {16, 32, 64, 128})
        b->Arg(size);
}

} // namespace px::bench
