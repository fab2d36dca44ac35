// heap_test_support.h — helpers shared by the allocator tests.
//
// Everything here is written from px/heap.h alone: the gross-size formula is the one the
// header documents, not one read from the implementation, so a test that compares against it
// fails if the heap ever counts differently from what it promises.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <tuple>

#include "px/heap.h"

// Whether a sanitizer runtime is linked in (gcc defines __SANITIZE_*, clang has __has_feature).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PX_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define PX_TEST_SANITIZED 1
#endif
#endif
#ifndef PX_TEST_SANITIZED
#define PX_TEST_SANITIZED 0
#endif

namespace px::test {

// Bytes in use charged for one block of n bytes (px/heap.h: "a block of n <= 32 KiB bytes
// counts 16 + class_size(n); a larger block counts 32 + n rounded up to 16").
constexpr std::size_t gross(std::size_t n) {
    return n <= kMediumMax ? 16 + class_size(size_class(n)) : 32 + (n + 15) / 16 * 16;
}

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * 1024;

// The three ways a heap can get its memory. Behaviours the contract promises for every heap
// are value-parameterised over all three.
enum class Mode { region, poison_rewound, malloc_per_allocation };

inline HeapOptions options_for(Mode mode) {
    HeapOptions o;
    o.poison_rewound = mode == Mode::poison_rewound;
    o.malloc_per_allocation = mode == Mode::malloc_per_allocation;
    return o;
}

inline std::string mode_name(const testing::TestParamInfo<Mode>& info) {
    switch (info.param) {
    case Mode::region:
        return "region";
    case Mode::poison_rewound:
        return "poison_rewound";
    case Mode::malloc_per_allocation:
        return "malloc_per_allocation";
    }
    return "unknown";
}

// Test names and failure messages say "region", not "4-byte object <00-00 00-00>".
inline void PrintTo(Mode mode, std::ostream* os) {
    *os << mode_name(testing::TestParamInfo<Mode>(mode, 0));
}

#define PX_ALL_HEAP_MODES                                                                          \
    testing::Values(::px::test::Mode::region, ::px::test::Mode::poison_rewound,                    \
                    ::px::test::Mode::malloc_per_allocation),                                      \
        ::px::test::mode_name

// Modes whose blocks live in the region's chunks (free lists, chunk stats, addresses reused).
#define PX_CHUNK_HEAP_MODES                                                                        \
    testing::Values(::px::test::Mode::region, ::px::test::Mode::poison_rewound),                   \
        ::px::test::mode_name

// A byte pattern that differs per block (seed) and per offset, so overlapping blocks or a
// block handed out twice shows up as a mismatch.
inline unsigned char pattern_byte(std::uint32_t seed, std::size_t i) {
    return static_cast<unsigned char>((seed * 131u) ^ (i * 31u) ^ (i >> 8));
}

inline void fill(void* p, std::size_t n, std::uint32_t seed) {
    auto* b = static_cast<unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i)
        b[i] = pattern_byte(seed, i);
}

inline bool intact(const void* p, std::size_t n, std::uint32_t seed) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i)
        if (b[i] != pattern_byte(seed, i))
            return false;
    return true;
}

inline bool aligned_to(const void* p, std::size_t alignment) {
    return reinterpret_cast<std::uintptr_t>(p) % alignment == 0;
}

// Every HeapStats field, in a form EXPECT_EQ compares and prints field by field.
inline auto fields(const HeapStats& s) {
    return std::make_tuple(s.bytes_in_use, s.bytes_held, s.high_water, s.chunk_bytes,
                           s.cached_bytes, s.chunks, s.allocations, s.frees, s.failed, s.snapshots,
                           s.rewinds, s.depth);
}

} // namespace px::test
