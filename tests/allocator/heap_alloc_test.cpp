// heap_alloc_test.cpp — alloc, alloc_aligned, realloc, free, usable_size; large blocks,
// chunk growth and free-list reuse.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "heap_test_support.h"
#include "px/heap.h"

namespace px::test {
namespace {

// Sizes on both sides of every boundary the contract names: small (<= 1 KiB), medium
// (<= 32 KiB) and large (a chunk of its own).
const std::size_t kSizes[] = {0,     1,     7,     15,    16,    17,    100,
                              1000,  1023,  1024,  1025,  1500,  4096,  5000,
                              16385, 32767, 32768, 32769, 40000, 65536, 100000};

class AllocTest : public testing::TestWithParam<Mode> {
protected:
    Heap heap{options_for(GetParam())};
};
INSTANTIATE_TEST_SUITE_P(Modes, AllocTest, PX_ALL_HEAP_MODES);

TEST_P(AllocTest, AllocReturns16ByteAlignedMemory) {
    for (std::size_t n : kSizes) {
        void* p = heap.alloc(n);
        ASSERT_NE(p, nullptr) << "n = " << n;
        EXPECT_TRUE(aligned_to(p, 16)) << "n = " << n << " p = " << p;
        fill(p, n, static_cast<std::uint32_t>(n));
        EXPECT_TRUE(intact(p, n, static_cast<std::uint32_t>(n)));
        heap.free(p);
    }
}

TEST_P(AllocTest, AllocOfZeroBytesReturnsDistinctBlocks) {
    void* p = heap.alloc(0);
    void* q = heap.alloc(0);
    ASSERT_NE(p, nullptr);
    ASSERT_NE(q, nullptr);
    EXPECT_NE(p, q);
    heap.free(p);
    heap.free(q);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
}

TEST_P(AllocTest, LiveBlocksNeverOverlap) {
    std::vector<std::pair<void*, std::size_t>> blocks;
    std::uint32_t seed = 1;
    for (int i = 0; i < 2000; ++i) {
        std::size_t n = kSizes[(i * 7) % std::size(kSizes)] + static_cast<std::size_t>(i % 13);
        void* p = heap.alloc(n);
        ASSERT_NE(p, nullptr);
        fill(p, n, seed + static_cast<std::uint32_t>(i));
        blocks.emplace_back(p, n);
    }
    for (std::size_t i = 0; i < blocks.size(); ++i)
        ASSERT_TRUE(intact(blocks[i].first, blocks[i].second, seed + static_cast<std::uint32_t>(i)))
            << "block " << i;
    std::sort(blocks.begin(), blocks.end());
    for (std::size_t i = 1; i < blocks.size(); ++i)
        ASSERT_LE(static_cast<char*>(blocks[i - 1].first) + blocks[i - 1].second,
                  static_cast<char*>(blocks[i].first));
    for (auto& [p, n] : blocks)
        heap.free(p);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
}

TEST_P(AllocTest, AllocAlignedHonoursEveryPowerOfTwoFrom32To64KiB) {
    for (std::size_t align = 32; align <= 64 * kKiB; align *= 2) {
        for (std::size_t n :
             {std::size_t{1}, std::size_t{100}, std::size_t{5000}, std::size_t{40000}}) {
            void* p = heap.alloc_aligned(n, align);
            ASSERT_NE(p, nullptr) << "n = " << n << " align = " << align;
            EXPECT_TRUE(aligned_to(p, align)) << "n = " << n << " align = " << align;
            EXPECT_GE(Heap::usable_size(p), n);
            fill(p, n, static_cast<std::uint32_t>(align + n));
            EXPECT_TRUE(intact(p, n, static_cast<std::uint32_t>(align + n)));
            heap.free(p);
        }
    }
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
    EXPECT_EQ(heap.stats().failed, 0u);
}

TEST_P(AllocTest, FirstBlockWithTheLargestAlignmentFitsInAFreshHeap) {
    // The block, its header and up to 64 KiB of padding: more than a first chunk holds.
    for (std::size_t n : {1, 1000, 30000}) {
        Heap fresh(options_for(GetParam()));
        void* p = fresh.alloc_aligned(n, 64 * kKiB);
        ASSERT_NE(p, nullptr) << "n = " << n;
        EXPECT_TRUE(aligned_to(p, 64 * kKiB)) << "n = " << n;
        fill(p, n, 5);
        EXPECT_TRUE(intact(p, n, 5));
        EXPECT_EQ(owner_of(p), &fresh);
    }
}

TEST_P(AllocTest, AllocAlignedBelow16IsStill16Aligned) {
    for (std::size_t align : {1, 2, 4, 8, 16}) {
        void* p = heap.alloc_aligned(24, align);
        ASSERT_NE(p, nullptr);
        EXPECT_TRUE(aligned_to(p, 16));
        heap.free(p);
    }
}

TEST_P(AllocTest, AllocAlignedRejectsNonPowerOfTwoAlignment) {
    for (std::size_t align : {24, 48, 100, 1000, 3 * 4096, 65535}) {
        HeapStats before = heap.stats();
        EXPECT_EQ(heap.alloc_aligned(64, align), nullptr) << "align = " << align;
        HeapStats after = heap.stats();
        EXPECT_EQ(after.failed, before.failed + 1) << "align = " << align;
        EXPECT_EQ(after.allocations, before.allocations);
        EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
    }
}

TEST_P(AllocTest, AllocAlignedRejectsAlignmentAbove64KiB) {
    EXPECT_EQ(heap.alloc_aligned(64, 128 * kKiB), nullptr);
    EXPECT_EQ(heap.alloc_aligned(100000, 1 * kMiB), nullptr);
    EXPECT_EQ(heap.stats().failed, 2u);
    EXPECT_EQ(heap.stats().allocations, 0u);
}

TEST_P(AllocTest, AllocOfAnImpossibleSizeFailsCleanly) {
    EXPECT_EQ(heap.alloc(SIZE_MAX), nullptr);
    EXPECT_EQ(heap.alloc(SIZE_MAX / 2), nullptr);
    EXPECT_EQ(heap.alloc_aligned(SIZE_MAX - 64, 64), nullptr);
    EXPECT_EQ(heap.stats().failed, 3u);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
    void* p = heap.alloc(100); // and the heap still works
    ASSERT_NE(p, nullptr);
    heap.free(p);
}

TEST_P(AllocTest, UsableSizeIsAtLeastTheSizeAsked) {
    for (std::size_t n : kSizes) {
        void* p = heap.alloc(n);
        ASSERT_NE(p, nullptr);
        std::size_t usable = Heap::usable_size(p);
        EXPECT_GE(usable, n) << "n = " << n;
        // Every usable byte may be written (a sanitizer build reports it if not).
        std::memset(p, 0xAB, usable);
        heap.free(p);
    }
}

TEST_P(AllocTest, UsableSizeOfAlignedBlockIsAtLeastTheSizeAsked) {
    for (std::size_t n :
         {std::size_t{3}, std::size_t{700}, std::size_t{9000}, std::size_t{50000}}) {
        void* p = heap.alloc_aligned(n, 4096);
        ASSERT_NE(p, nullptr);
        EXPECT_GE(Heap::usable_size(p), n);
        std::memset(p, 0xCD, Heap::usable_size(p));
        heap.free(p);
    }
}

TEST_P(AllocTest, FreeAcceptsEveryKindOfBlock) {
    std::vector<void*> blocks = {heap.alloc(8),
                                 heap.alloc(2000),
                                 heap.alloc(70000),
                                 heap.alloc_aligned(40, 256),
                                 heap.alloc_aligned(3000, 8192),
                                 heap.alloc_aligned(80000, 65536)};
    for (void* p : blocks)
        ASSERT_NE(p, nullptr);
    for (void* p : blocks)
        heap.free(p);
    HeapStats s = heap.stats();
    EXPECT_EQ(s.bytes_in_use, 0u);
    EXPECT_EQ(s.frees, blocks.size());
    EXPECT_EQ(s.allocations, blocks.size());
}

TEST_P(AllocTest, ReallocOfNullptrAllocates) {
    void* p = heap.realloc(nullptr, 100);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(heap.stats().allocations, 1u);
    EXPECT_EQ(heap.stats().bytes_in_use, gross(100));
    heap.free(p);
}

TEST_P(AllocTest, ReallocGrowKeepsTheContents) {
    void* p = heap.alloc(100);
    ASSERT_NE(p, nullptr);
    fill(p, 100, 7);
    void* q = heap.realloc(p, 5000);
    ASSERT_NE(q, nullptr);
    EXPECT_TRUE(intact(q, 100, 7));
    EXPECT_GE(Heap::usable_size(q), 5000u);
    EXPECT_EQ(heap.stats().bytes_in_use, gross(5000));
    heap.free(q);
}

TEST_P(AllocTest, ReallocShrinkKeepsThePrefix) {
    void* p = heap.alloc(5000);
    ASSERT_NE(p, nullptr);
    fill(p, 5000, 8);
    void* q = heap.realloc(p, 100);
    ASSERT_NE(q, nullptr);
    EXPECT_TRUE(intact(q, 100, 8));
    EXPECT_EQ(heap.stats().bytes_in_use, gross(100));
    heap.free(q);
}

TEST_P(AllocTest, ReallocBetweenSmallAndLargeKeepsTheContents) {
    void* p = heap.alloc(300);
    ASSERT_NE(p, nullptr);
    fill(p, 300, 9);
    void* big = heap.realloc(p, 200000);
    ASSERT_NE(big, nullptr);
    EXPECT_TRUE(intact(big, 300, 9));
    fill(big, 200000, 10);
    void* bigger = heap.realloc(big, 300000);
    ASSERT_NE(bigger, nullptr);
    EXPECT_TRUE(intact(bigger, 200000, 10));
    void* small = heap.realloc(bigger, 50);
    ASSERT_NE(small, nullptr);
    EXPECT_TRUE(intact(small, 50, 10));
    EXPECT_EQ(heap.stats().bytes_in_use, gross(50));
    heap.free(small);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
}

TEST_P(AllocTest, ReallocOfAnAlignedBlockKeepsTheContents) {
    void* p = heap.alloc_aligned(64, 4096);
    ASSERT_NE(p, nullptr);
    fill(p, 64, 11);
    void* q = heap.realloc(p, 3000);
    ASSERT_NE(q, nullptr);
    EXPECT_TRUE(intact(q, 64, 11));
    heap.free(q);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
}

TEST_P(AllocTest, ReallocToTheSameSizeKeepsTheContents) {
    for (std::size_t n : {std::size_t{40}, std::size_t{4000}, std::size_t{40000}}) {
        void* p = heap.alloc(n);
        ASSERT_NE(p, nullptr);
        fill(p, n, 12);
        void* q = heap.realloc(p, n);
        ASSERT_NE(q, nullptr);
        EXPECT_TRUE(intact(q, n, 12));
        EXPECT_EQ(heap.stats().bytes_in_use, gross(n));
        heap.free(q);
    }
}

TEST_P(AllocTest, ReallocOfABlockFromBeforeTheSnapshotKeepsTheContents) {
    void* p = heap.alloc(20);
    ASSERT_NE(p, nullptr);
    fill(p, 20, 13);
    Snapshot s = heap.snapshot();
    void* q = heap.realloc(p, 30);
    ASSERT_NE(q, nullptr);
    EXPECT_TRUE(intact(q, 20, 13));
    EXPECT_EQ(heap.stats().bytes_in_use, gross(30));
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    // The old block was freed after the snapshot and the new one allocated after it: the
    // rewind leaves neither live.
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
}

TEST_P(AllocTest, LargeBlockAboveTheMaximumChunkSizeWorks) {
    const std::size_t n = 10 * kMiB;
    auto* p = static_cast<unsigned char*>(heap.alloc(n));
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(aligned_to(p, 16));
    p[0] = 1;
    p[n / 2] = 2;
    p[n - 1] = 3;
    EXPECT_EQ(p[0] + p[n / 2] + p[n - 1], 6);
    EXPECT_EQ(heap.stats().bytes_in_use, gross(n));
    heap.free(p);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
}

// ---- chunk-backed heaps only: in-place resizing, large-block chunks, growth, reuse ----

class ChunkAllocTest : public testing::TestWithParam<Mode> {
protected:
    Heap heap{options_for(GetParam())};
};
INSTANTIATE_TEST_SUITE_P(Modes, ChunkAllocTest, PX_CHUNK_HEAP_MODES);

TEST_P(ChunkAllocTest, ReallocWithinTheSizeClassStaysInPlace) {
    void* p = heap.alloc(20); // class 32
    ASSERT_NE(p, nullptr);
    fill(p, 20, 21);
    HeapStats before = heap.stats();
    EXPECT_EQ(heap.realloc(p, 32), p);
    EXPECT_TRUE(intact(p, 20, 21));
    EXPECT_EQ(heap.realloc(p, 17), p);
    EXPECT_TRUE(intact(p, 17, 21));
    EXPECT_GE(Heap::usable_size(p), 17u);
    HeapStats after = heap.stats();
    EXPECT_EQ(after.allocations, before.allocations);
    EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
    heap.free(p);
}

TEST_P(ChunkAllocTest, LargeBlockGetsAChunkOfItsOwn) {
    void* small = heap.alloc(100);
    ASSERT_NE(small, nullptr);
    HeapStats before = heap.stats();
    void* p = heap.alloc(40000);
    ASSERT_NE(p, nullptr);
    HeapStats after = heap.stats();
    EXPECT_EQ(after.chunks, before.chunks + 1);
    EXPECT_GE(after.chunk_bytes, before.chunk_bytes + 40000);
    heap.free(p);
    heap.free(small);
}

TEST_P(ChunkAllocTest, FreeingALargeBlockEarlyReleasesItsChunk) {
    HeapStats before = heap.stats();
    void* p = heap.alloc(40000);
    ASSERT_NE(p, nullptr);
    std::size_t held = heap.stats().chunk_bytes - before.chunk_bytes;
    heap.free(p);
    HeapStats after = heap.stats();
    EXPECT_EQ(after.chunks, before.chunks);
    EXPECT_EQ(after.chunk_bytes, before.chunk_bytes);
    EXPECT_EQ(after.cached_bytes, before.cached_bytes + held);
    EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
}

TEST_P(ChunkAllocTest, ChunkOfAnEarlyFreedLargeBlockIsReused) {
    void* p = heap.alloc(40000);
    ASSERT_NE(p, nullptr);
    heap.free(p);
    std::size_t cached = heap.stats().cached_bytes;
    ASSERT_GT(cached, 0u);
    void* q = heap.alloc(45000);
    ASSERT_NE(q, nullptr);
    EXPECT_LT(heap.stats().cached_bytes, cached);
    heap.free(q);
}

TEST_P(ChunkAllocTest, LargeBlocksAllocatedSinceTheSnapshotAreReleasedAtRewind) {
    void* keep = heap.alloc(50000);
    ASSERT_NE(keep, nullptr);
    fill(keep, 50000, 31);
    HeapStats before = heap.stats();
    Snapshot s = heap.snapshot();
    for (std::size_t n : {40000, 80000, 300000})
        ASSERT_NE(heap.alloc(n), nullptr);
    EXPECT_EQ(heap.stats().chunks, before.chunks + 3);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    HeapStats after = heap.stats();
    EXPECT_EQ(after.chunks, before.chunks);
    EXPECT_EQ(after.chunk_bytes, before.chunk_bytes);
    EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
    EXPECT_GT(after.cached_bytes, before.cached_bytes);
    EXPECT_TRUE(intact(keep, 50000, 31));
    heap.free(keep);
}

TEST_P(ChunkAllocTest, LargeBlockFreedAfterTheSnapshotKeepsItsChunkUntilRewind) {
    void* big = heap.alloc(40000);
    ASSERT_NE(big, nullptr);
    Snapshot s = heap.snapshot();
    std::size_t chunks = heap.stats().chunks;
    heap.free(big);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
    EXPECT_EQ(heap.stats().chunks, chunks); // the rewind may need it back
    void* other = heap.alloc(40000);
    EXPECT_NE(other, big);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
    EXPECT_EQ(heap.stats().chunks, 0u);
}

TEST_P(ChunkAllocTest, ChunkCountGrowsFarSlowerThanTheAllocationCount) {
    const int n = 100000;
    for (int i = 0; i < n; ++i)
        ASSERT_NE(heap.alloc(64), nullptr);
    HeapStats s = heap.stats();
    EXPECT_EQ(s.allocations, static_cast<std::uint64_t>(n));
    EXPECT_EQ(s.bytes_in_use, n * gross(64));
    // 8 MB of blocks in geometrically growing chunks: a handful, not thousands.
    EXPECT_LE(s.chunks, 12u);
    EXPECT_GE(s.chunk_bytes, s.bytes_in_use);
    EXPECT_LE(s.chunk_bytes, 2 * s.bytes_in_use + 4 * kMiB);
}

TEST_P(ChunkAllocTest, EachNewChunkIsAtLeastAsLargeAsThePrevious) {
    std::vector<std::size_t> sizes;
    HeapStats last = heap.stats();
    for (int i = 0; i < 200000 && sizes.size() < 10; ++i) {
        ASSERT_NE(heap.alloc(1000), nullptr);
        HeapStats s = heap.stats();
        if (s.chunks != last.chunks) {
            ASSERT_EQ(s.chunks, last.chunks + 1);
            sizes.push_back(s.chunk_bytes - last.chunk_bytes);
        }
        last = s;
    }
    ASSERT_EQ(sizes.size(), 10u);
    for (std::size_t i = 1; i < sizes.size(); ++i)
        EXPECT_GE(sizes[i], sizes[i - 1]) << "chunk " << i;
    EXPECT_GE(sizes[4], 8 * sizes[0]) << "growth is not geometric";
}

TEST_P(ChunkAllocTest, FreedSmallBlockIsReusedByTheNextAllocationOfItsClass) {
    void* p = heap.alloc(48);
    ASSERT_NE(p, nullptr);
    heap.free(p);
    EXPECT_EQ(heap.alloc(40), p); // 40 and 48 share the 48-byte class
}

TEST_P(ChunkAllocTest, FreedMediumBlockIsReusedByTheNextAllocationOfItsClass) {
    void* p = heap.alloc(5000);
    ASSERT_NE(p, nullptr);
    heap.free(p);
    EXPECT_EQ(heap.alloc(5000), p);
}

TEST_P(ChunkAllocTest, FreeListsAreKeptPerSizeClass) {
    void* p = heap.alloc(48);
    ASSERT_NE(p, nullptr);
    heap.free(p);
    void* q = heap.alloc(200);
    EXPECT_NE(q, p);
    EXPECT_EQ(heap.alloc(48), p);
}

TEST_P(ChunkAllocTest, FreedAlignedBlockIsReusedByItsClass) {
    void* p = heap.alloc_aligned(64, 1024);
    ASSERT_NE(p, nullptr);
    heap.free(p);
    EXPECT_EQ(heap.alloc(64), p);
}

// The requirement: a callback that allocates and frees in a loop stays small.
void churn(Heap& heap, long iterations) {
    void* ring[64] = {};
    for (long i = 0; i < iterations; ++i) {
        std::size_t n = 1 + static_cast<std::size_t>(i * 37 % 1024);
        void*& slot = ring[i % 64];
        heap.free(slot);
        slot = heap.alloc(n);
        ASSERT_NE(slot, nullptr) << "iteration " << i;
    }
    for (void* p : ring)
        heap.free(p);
}

TEST_P(ChunkAllocTest, AllocFreeLoopOfTenMillionBlocksStaysUnderOneMiB) {
    churn(heap, 10'000'000);
    HeapStats s = heap.stats();
    EXPECT_EQ(s.bytes_in_use, 0u);
    EXPECT_LT(s.chunk_bytes, 1 * kMiB);
    EXPECT_LT(s.high_water, 1 * kMiB);
    EXPECT_EQ(s.allocations, 10'000'000u);
}

TEST_P(ChunkAllocTest, AllocFreeLoopInsideASnapshotStaysUnderOneMiB) {
    ASSERT_NE(heap.alloc(100), nullptr);
    Snapshot s = heap.snapshot();
    churn(heap, 10'000'000);
    HeapStats st = heap.stats();
    EXPECT_LT(st.chunk_bytes, 1 * kMiB);
    EXPECT_LT(st.high_water, 1 * kMiB);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(heap.stats().bytes_in_use, gross(100));
}

// alloc_aligned(n, a) promises a-aligned memory for every power of two a; an alignment that is
// no power of two is refused (nullptr, failed + 1) whatever its size. Below 16 the heap used to
// return 16-aligned memory instead, which is not 3-, 12- or 24-aligned.
TEST(AllocAlignedTest, RejectsNonPowerOfTwoAlignmentBelow16) {
    Heap heap;
    for (std::size_t align : {3, 5, 6, 12}) {
        HeapStats before = heap.stats();
        void* p = heap.alloc_aligned(64, align);
        EXPECT_EQ(p, nullptr) << "align = " << align << ": got " << p << ", which is "
                              << (aligned_to(p, align) ? "" : "not ") << align << "-aligned";
        EXPECT_EQ(heap.stats().failed, before.failed + 1) << "align = " << align;
        heap.free(p);
    }
}

} // namespace
} // namespace px::test
