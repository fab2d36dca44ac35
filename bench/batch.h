// batch.h — the allocation workload every allocator in px_bench is measured with.
//
// A callback allocates many small objects, touches them, and is done with all of them at
// once. So a batch allocates kBatchSize blocks, writes a byte into each and keeps the pointer,
// then hands the whole batch back: the context heap with one rewind, malloc-style allocators
// with one free per block. Everything but the allocator calls is the same code.
//
// The blocks of a batch are either all of one size (16 .. 512 bytes) or, in the `mix` case,
// of the sizes a CPython 3.11 callback really asks PyObject_Malloc for (python_sizes.h).
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "python_sizes.h"

namespace px::bench {

constexpr std::size_t kBatchSize = 1000;

// The mix: kMixLength sizes drawn from kPythonSizes (each size with the probability of its
// count) by a fixed-seed generator, computed once. Every allocator walks the same sequence,
// kBatchSize sizes per batch, wrapping around at the end; kMixLength is not a multiple of
// kBatchSize, so successive batches see different windows and a branch predictor cannot
// learn one batch by heart.
constexpr std::size_t kMixLength = std::size_t{1} << 16;

inline const std::vector<std::uint32_t>& mix_sizes() {
    static const std::vector<std::uint32_t> sizes = [] {
        std::uint64_t total = 0;
        for (const SizeCount& sc : kPythonSizes)
            total += sc.count;
        std::vector<std::uint32_t> out(kMixLength);
        std::uint64_t state = 0x7078'6b69'7400'0001; // fixed seed
        for (std::uint32_t& size : out) {
            // splitmix64: the same numbers with every compiler and library, unlike the
            // <random> distributions.
            std::uint64_t z = (state += 0x9e37'79b9'7f4a'7c15);
            z = (z ^ (z >> 30)) * 0xbf58'476d'1ce4'e5b9;
            z = (z ^ (z >> 27)) * 0x94d0'49bb'1331'11eb;
            z ^= z >> 31;
            std::uint64_t pick = z % total; // bias below 2^-40: total is about 10^6
            for (const SizeCount& sc : kPythonSizes) {
                if (pick < sc.count) {
                    size = static_cast<std::uint32_t>(sc.size);
                    break;
                }
                pick -= sc.count;
            }
        }
        return out;
    }();
    return sizes;
}

// The size of the i-th block of a batch.
struct FixedSize {
    std::size_t size;
    std::size_t operator()(std::size_t) const { return size; }
};
struct MixSizes {
    const std::uint32_t* sizes = mix_sizes().data();
    std::size_t offset = 0; // where the current batch starts in the sequence
    std::size_t operator()(std::size_t i) const { return sizes[(offset + i) % kMixLength]; }
    void next_batch() { offset = (offset + kBatchSize) % kMixLength; }
};

// Allocator is a type with begin(), alloc(size) -> void* and end(std::vector<char*>&).
// Never inlined, so callgrind can count it apart from setting the allocator up.
template <class Allocator, class Sizes>
[[gnu::noinline]] void run_batches(benchmark::State& state, Allocator& allocator, Sizes& sizes) {
    std::vector<char*> blocks(kBatchSize);
    for (auto _ : state) {
        allocator.begin();
        for (std::size_t i = 0; i < kBatchSize; ++i) {
            const std::size_t size = sizes(i);
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
        if constexpr (requires { sizes.next_batch(); })
            sizes.next_batch();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatchSize));
}

// Fixed sizes compared across allocators: range(0) bytes, every block of the batch.
template <class Allocator> void BM_batch_fixed(benchmark::State& state) {
    Allocator allocator;
    FixedSize sizes{static_cast<std::size_t>(state.range(0))};
    run_batches(state, allocator, sizes);
}

// The mix, registered as <name>/mix.
template <class Allocator> void BM_batch_mix(benchmark::State& state) {
    Allocator allocator;
    MixSizes sizes;
    run_batches(state, allocator, sizes);
    double bytes = 0;
    for (std::uint32_t size : mix_sizes())
        bytes += size;
    state.counters["mean_size"] = bytes / static_cast<double>(kMixLength);
}

// Fixed sizes: the common CPython object sizes and the two largest pymalloc serves itself
// (PyObject_Malloc hands anything above 512 bytes to malloc).
inline void small_sizes(benchmark::internal::Benchmark* b) {
    for (int size : {16, 32, 64, 128, 256, 512})
        b->Arg(size);
}

// PX_BENCH_BATCHES=n runs every batch case for exactly n batches instead of timing it: one
// run, no calibration, so callgrind's count over run_batches divided by n * kBatchSize is the
// instructions per allocation (bench/alloc_instructions.sh). 0 when unset.
inline std::int64_t fixed_batches() {
    static const std::int64_t n = [] {
        const char* env = std::getenv("PX_BENCH_BATCHES");
        return env ? std::max<std::int64_t>(std::atoll(env), 1) : 0;
    }();
    return n;
}

// Registers <name>/<size> for every fixed size and <name>/mix.
template <class Allocator> void register_batches(const char* name) {
    auto* fixed = benchmark::RegisterBenchmark(name, BM_batch_fixed<Allocator>)->Apply(small_sizes);
    auto* mix =
        benchmark::RegisterBenchmark((std::string(name) + "/mix").c_str(), BM_batch_mix<Allocator>);
    if (fixed_batches() > 0) {
        fixed->Iterations(fixed_batches());
        mix->Iterations(fixed_batches());
    }
}

} // namespace px::bench
