// heap_stats_test.cpp — HeapStats fields, the chunk cache, trim() and cache_bytes.
#include <gtest/gtest.h>

#include <vector>

#include "heap_test_support.h"
#include "px/heap.h"

namespace px::test {
namespace {

class StatsTest : public testing::TestWithParam<Mode> {
protected:
    Heap heap{options_for(GetParam())};
};
INSTANTIATE_TEST_SUITE_P(Modes, StatsTest, PX_ALL_HEAP_MODES);

TEST_P(StatsTest, BytesInUseFollowsTheDocumentedGrossFormula) {
    // Checked against literal values too, so a wrong gross() helper cannot hide a wrong heap.
    static_assert(gross(1) == 32 && gross(100) == 128 && gross(1025) == 1296);
    static_assert(gross(32768) == 16 + 32768 && gross(32769) == 32 + 32784);
    for (std::size_t n :
         {0, 1, 16, 17, 100, 1024, 1025, 1500, 4096, 5000, 32768, 32769, 40000, 100000}) {
        std::size_t before = heap.stats().bytes_in_use;
        void* p = heap.alloc(n);
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(heap.stats().bytes_in_use - before, gross(n)) << "n = " << n;
        heap.free(p);
        EXPECT_EQ(heap.stats().bytes_in_use, before) << "n = " << n;
    }
}

TEST_P(StatsTest, AlignedBlocksCountTheSameGrossBytes) {
    for (std::size_t n : {1, 100, 5000, 50000}) {
        void* p = heap.alloc_aligned(n, 4096);
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(heap.stats().bytes_in_use, gross(n)) << "n = " << n;
        heap.free(p);
    }
}

TEST_P(StatsTest, HighWaterCoversThePeakAndNeverFalls) {
    std::vector<void*> blocks;
    for (int i = 0; i < 50; ++i)
        blocks.push_back(heap.alloc(1000));
    const std::size_t peak = 50 * gross(1000);
    ASSERT_EQ(heap.stats().bytes_in_use, peak);
    std::size_t last = heap.stats().high_water;
    EXPECT_GE(last, peak);
    auto never_falls = [&](const char* after) {
        HeapStats s = heap.stats();
        EXPECT_GE(s.high_water, last) << after;
        EXPECT_GE(s.high_water, s.bytes_in_use) << after;
        last = s.high_water;
    };
    for (void* p : blocks)
        heap.free(p);
    never_falls("frees");
    Snapshot s = heap.snapshot();
    ASSERT_NE(heap.alloc(100), nullptr);
    never_falls("an allocation in a snapshot");
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    never_falls("the rewind");
    for (int i = 0; i < 60; ++i)
        ASSERT_NE(heap.alloc(1000), nullptr);
    never_falls("a higher peak");
    EXPECT_GE(heap.stats().high_water, 60 * gross(1000));
}

TEST_P(StatsTest, AllocationsAndFreesAreCounted) {
    void* a = heap.alloc(10);
    void* b = heap.alloc_aligned(10, 64);
    void* c = heap.realloc(nullptr, 10);
    void* d = heap.alloc(100000);
    heap.free(a);
    heap.free(d);
    heap.free(nullptr); // not a free
    HeapStats s = heap.stats();
    EXPECT_EQ(s.allocations, 4u);
    EXPECT_EQ(s.frees, 2u);
    heap.free(b);
    heap.free(c);
    EXPECT_EQ(heap.stats().frees, 4u);
}

TEST_P(StatsTest, FailedCountsEveryRefusal) {
    heap.set_limit(100);
    EXPECT_EQ(heap.alloc(1000), nullptr);
    EXPECT_EQ(heap.alloc(100000), nullptr);
    EXPECT_EQ(heap.alloc_aligned(10, 3 * 64), nullptr);
    EXPECT_EQ(heap.stats().failed, 3u);
    EXPECT_EQ(heap.stats().allocations, 0u);
}

TEST_P(StatsTest, SnapshotsRewindsAndDepthAreCounted) {
    Snapshot a = heap.snapshot();
    Snapshot b = heap.snapshot();
    heap.snapshot();
    EXPECT_EQ(heap.stats().snapshots, 3u);
    EXPECT_EQ(heap.stats().depth, 3u);
    ASSERT_EQ(heap.rewind(b), RewindStatus::ok);
    EXPECT_EQ(heap.stats().depth, 1u);
    EXPECT_EQ(heap.rewind(b), RewindStatus::stale); // refused: not counted
    EXPECT_EQ(heap.rewind(Snapshot{}), RewindStatus::never_taken);
    EXPECT_EQ(heap.stats().rewinds, 1u);
    ASSERT_EQ(heap.rewind(a), RewindStatus::ok);
    HeapStats s = heap.stats();
    EXPECT_EQ(s.rewinds, 2u);
    EXPECT_EQ(s.snapshots, 3u);
    EXPECT_EQ(s.depth, 0u);
    EXPECT_EQ(heap.depth(), s.depth);
}

TEST_P(StatsTest, BytesHeldIsNeverBelowBytesInUseAndHighWaterNeverBelowEither) {
    auto check = [&](const char* after) {
        HeapStats s = heap.stats();
        EXPECT_GE(s.bytes_held, s.bytes_in_use) << after;
        EXPECT_GE(s.high_water, s.bytes_held) << after;
    };
    check("nothing");
    std::vector<void*> blocks;
    for (std::size_t n : {10, 700, 5000, 60000})
        blocks.push_back(heap.alloc(n));
    check("allocations");
    blocks.push_back(heap.alloc_aligned(100, 8192));
    check("an aligned allocation");
    Snapshot s = heap.snapshot();
    heap.free(blocks[0]);
    heap.free(blocks[3]);
    check("frees inside a snapshot");
    ASSERT_NE(heap.alloc(40000), nullptr);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    check("the rewind");
}

// ---- chunk statistics and the chunk cache ----

class ChunkStatsTest : public testing::TestWithParam<Mode> {
protected:
    HeapOptions with_cache(std::size_t bytes) const {
        HeapOptions o = options_for(GetParam());
        o.cache_bytes = bytes;
        return o;
    }
    // Allocates small blocks until the heap holds at least `chunks` chunks.
    static void grow_to(Heap& h, std::size_t chunks) {
        while (h.stats().chunks < chunks)
            ASSERT_NE(h.alloc(1000), nullptr);
    }
};
INSTANTIATE_TEST_SUITE_P(Modes, ChunkStatsTest, PX_CHUNK_HEAP_MODES);

// ---- bytes_held (chunk-backed heaps: a malloc'd block goes back to malloc when freed) ----

TEST_P(ChunkStatsTest, FreeingASmallOrMediumBlockKeepsItsBytesHeld) {
    Heap heap(options_for(GetParam()));
    void* a = heap.alloc(100);
    void* b = heap.alloc(5000);
    ASSERT_TRUE(a && b);
    const HeapStats before = heap.stats();
    EXPECT_EQ(before.bytes_held, gross(100) + gross(5000));
    heap.free(a);
    heap.free(b);
    EXPECT_EQ(heap.stats().bytes_held, before.bytes_held); // waiting on free lists
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
    ASSERT_NE(heap.alloc(100), nullptr); // reused from the free list: nothing more held
    EXPECT_EQ(heap.stats().bytes_held, before.bytes_held);
}

TEST_P(ChunkStatsTest, RewindGivesBackEverythingHeldSinceTheSnapshot) {
    Heap heap(options_for(GetParam()));
    void* old = heap.alloc(300);
    ASSERT_NE(old, nullptr);
    const std::size_t at_snapshot = heap.stats().bytes_held;
    Snapshot s = heap.snapshot();
    heap.free(old); // freed after the snapshot: on a free list after the rewind, still held
    for (int i = 0; i < 100; ++i)
        ASSERT_NE(heap.alloc(static_cast<std::size_t>(i) * 50), nullptr);
    ASSERT_NE(heap.alloc_aligned(10, 4096), nullptr);
    ASSERT_GT(heap.stats().bytes_held, at_snapshot);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(heap.stats().bytes_held, at_snapshot);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
}

TEST_P(ChunkStatsTest, AlignmentPaddingIsHeldButNotInUse) {
    Heap heap(options_for(GetParam()));
    ASSERT_NE(heap.alloc(16), nullptr); // the bump pointer is now 32 bytes into a chunk
    const HeapStats before = heap.stats();
    void* p = heap.alloc_aligned(16, 4096);
    ASSERT_NE(p, nullptr);
    const HeapStats after = heap.stats();
    EXPECT_EQ(after.bytes_in_use - before.bytes_in_use, gross(16));
    EXPECT_GT(after.bytes_held - before.bytes_held, gross(16));
    EXPECT_LT(after.bytes_held - before.bytes_held, gross(16) + 4096);
}

// A large block has a chunk of its own; freeing it gives the chunk back at once (to the cache
// or the OS), so it is no longer held. (px/heap.h says "frees never lower" bytes_held, which
// holds for small and medium blocks only.)
TEST_P(ChunkStatsTest, LargeBlockFreedEarlyIsNoLongerHeld) {
    Heap heap(options_for(GetParam()));
    void* p = heap.alloc(100000);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(heap.stats().bytes_held, gross(100000));
    heap.free(p);
    EXPECT_EQ(heap.stats().bytes_held, 0u);
}

TEST_P(ChunkStatsTest, HighWaterFollowsBytesHeld) {
    Heap heap(options_for(GetParam()));
    std::vector<void*> blocks;
    for (int i = 0; i < 20; ++i)
        blocks.push_back(heap.alloc(1000));
    for (void* p : blocks)
        heap.free(p);
    // Freed small blocks stay held, so the peak is what was held, not what was live.
    ASSERT_NE(heap.alloc(200), nullptr);
    EXPECT_EQ(heap.stats().high_water, heap.stats().bytes_held);
    EXPECT_EQ(heap.stats().high_water, 20 * gross(1000) + gross(200));
}

TEST_P(ChunkStatsTest, ChunkBytesHoldTheBytesInUse) {
    Heap heap(options_for(GetParam()));
    for (int i = 0; i < 3000; ++i)
        ASSERT_NE(heap.alloc(static_cast<std::size_t>(i) % 2000), nullptr);
    HeapStats s = heap.stats();
    EXPECT_GT(s.chunks, 0u);
    EXPECT_GE(s.chunk_bytes, s.bytes_in_use);
    EXPECT_EQ(s.cached_bytes, 0u);
}

TEST_P(ChunkStatsTest, RewindCachesTheChunksItReleases) {
    Heap heap(options_for(GetParam()));
    ASSERT_NE(heap.alloc(100), nullptr);
    HeapStats before = heap.stats();
    Snapshot s = heap.snapshot();
    grow_to(heap, before.chunks + 3);
    ASSERT_NE(heap.alloc(200000), nullptr);
    std::size_t grown = heap.stats().chunk_bytes;
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    HeapStats after = heap.stats();
    EXPECT_EQ(after.chunks, before.chunks);
    EXPECT_EQ(after.chunk_bytes, before.chunk_bytes);
    EXPECT_EQ(after.cached_bytes, grown - before.chunk_bytes);
}

TEST_P(ChunkStatsTest, CachedChunksAreUsedBeforeNewOnes) {
    Heap heap(options_for(GetParam()));
    Snapshot s = heap.snapshot();
    grow_to(heap, 4);
    std::size_t grown = heap.stats().chunk_bytes;
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    ASSERT_EQ(heap.stats().cached_bytes, grown);
    grow_to(heap, 4);
    // Taking chunks from the cache moves bytes between the two counts; nothing new is mapped.
    EXPECT_EQ(heap.stats().chunk_bytes + heap.stats().cached_bytes, grown);
    EXPECT_LT(heap.stats().cached_bytes, grown);
}

TEST_P(ChunkStatsTest, TrimReturnsTheWholeCache) {
    Heap heap(options_for(GetParam()));
    Snapshot s = heap.snapshot();
    grow_to(heap, 3);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    ASSERT_GT(heap.stats().cached_bytes, 0u);
    heap.trim();
    EXPECT_EQ(heap.stats().cached_bytes, 0u);
    EXPECT_EQ(heap.stats().chunk_bytes, 0u);
    void* p = heap.alloc(100); // and the heap maps new chunks as needed
    ASSERT_NE(p, nullptr);
    fill(p, 100, 1);
}

TEST_P(ChunkStatsTest, TrimKeepsAtMostTheBytesAsked) {
    Heap heap(options_for(GetParam()));
    Snapshot s = heap.snapshot();
    grow_to(heap, 5); // 64 + 128 + 256 + 512 + 1024 KiB or so
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    std::size_t cached = heap.stats().cached_bytes;
    heap.trim(cached); // nothing above the bound: nothing goes
    EXPECT_EQ(heap.stats().cached_bytes, cached);
    heap.trim(300 * kKiB);
    EXPECT_LE(heap.stats().cached_bytes, 300 * kKiB);
    EXPECT_GT(heap.stats().cached_bytes, 0u);
}

TEST_P(ChunkStatsTest, CacheBytesZeroKeepsNothingAfterARewind) {
    Heap heap(with_cache(0));
    Snapshot s = heap.snapshot();
    grow_to(heap, 3);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(heap.stats().cached_bytes, 0u);
}

TEST_P(ChunkStatsTest, CacheBytesBoundsTheCacheAfterARewind) {
    Heap heap(with_cache(256 * kKiB));
    Snapshot s = heap.snapshot();
    grow_to(heap, 6);
    ASSERT_NE(heap.alloc(2 * kMiB), nullptr);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_LE(heap.stats().cached_bytes, 256 * kKiB);
}

// cache_bytes bounds the chunks a heap keeps mapped for reuse. A large block freed before any
// rewind goes to the same cache, so a buffer grown by realloc (a Python list or bytearray
// growing inside one callback) must not leave every smaller copy's chunk mapped.
TEST_P(ChunkStatsTest, LargeBlocksFreedBetweenRewindsStayWithinCacheBytes) {
    Heap heap(with_cache(1 * kMiB));
    void* buffer = heap.alloc(64 * kKiB);
    ASSERT_NE(buffer, nullptr);
    for (std::size_t n = 128 * kKiB; n <= 32 * kMiB; n *= 2) {
        buffer = heap.realloc(buffer, n);
        ASSERT_NE(buffer, nullptr);
    }
    EXPECT_LE(heap.stats().cached_bytes, 1 * kMiB);
    heap.free(buffer);
}

} // namespace
} // namespace px::test
