// region_test.cpp — the shared context region: its size setting, exhaustion, and how
// returned granules are reused and coalesced.
//
// Its own executable: the region is reserved once per process, on the first chunk, with the
// size PX_REGION_GIB says. This file sets a 1 GiB region before main() so that running out of
// it is cheap (reserved address space, not memory). The tests assume the region is empty when
// each starts, which holds under ctest (one process per test) and in file order.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <vector>

#include "heap_test_support.h"
#include "px/heap.h"

namespace px::test {
namespace {

const bool g_small_region = [] { return setenv("PX_REGION_GIB", "1", 1) == 0; }();

constexpr std::size_t kGranule = 64 * kKiB;
constexpr std::size_t kRegion = 1024 * kMiB;
constexpr std::size_t kBlock = 64 * kMiB; // needs 1025 granules with its header
constexpr std::size_t kBlockGranules = kBlock / kGranule + 1;
constexpr std::size_t kBlocksThatFit = kRegion / kGranule / kBlockGranules; // 15

// Large blocks of kBlock bytes until the region is exhausted.
std::vector<char*> fill_region(Heap& heap) {
    std::vector<char*> blocks;
    while (char* p = static_cast<char*>(heap.alloc(kBlock)))
        blocks.push_back(p);
    return blocks;
}

TEST(RegionTest, RegionSizeComesFromPX_REGION_GIB) {
    ASSERT_TRUE(g_small_region);
    EXPECT_TRUE(reserve_region()); // reserves it before any heap asks
    EXPECT_TRUE(reserve_region()); // and says so again
    Heap heap;
    std::vector<char*> blocks = fill_region(heap);
    EXPECT_EQ(blocks.size(), kBlocksThatFit);
    EXPECT_EQ(heap.stats().failed, 1u);
    EXPECT_EQ(heap.stats().chunk_bytes, kBlocksThatFit * kBlockGranules * kGranule);
}

TEST(RegionTest, ExhaustedRegionRefusesSmallAllocationsToo) {
    Heap big;
    std::vector<char*> blocks = fill_region(big);
    ASSERT_FALSE(blocks.empty());
    Heap small;
    std::size_t got = 0;
    while (small.alloc(30000) != nullptr)
        ++got;
    EXPECT_GT(got, 0u); // the granules no 64 MiB block could use
    EXPECT_EQ(small.stats().failed, 1u);
    while (small.alloc(16) != nullptr) { // what is left of the last chunk
    }
    EXPECT_EQ(small.stats().failed, 2u);
    EXPECT_EQ(small.alloc(100000), nullptr);
    EXPECT_EQ(small.stats().failed, 3u);
}

TEST(RegionTest, ChunkGrowthFallsBackToTheBareNeedWhenTheRegionIsNearlyFull) {
    // A growing heap asks for ever larger chunks; near the end of the region it must still get
    // a chunk just big enough for the block, so every granule is used before it gives up.
    Heap big;
    ASSERT_FALSE(fill_region(big).empty());
    Heap small;
    while (small.alloc(16 * kKiB) != nullptr) {
    }
    EXPECT_EQ(big.stats().chunk_bytes + small.stats().chunk_bytes, kRegion);
}

TEST(RegionTest, HeapIsConsistentAfterTheRegionRunsOut) {
    Heap heap;
    void* keep = heap.alloc(100);
    ASSERT_NE(keep, nullptr);
    fill(keep, 100, 1);
    Snapshot s = heap.snapshot();
    std::vector<char*> blocks = fill_region(heap);
    ASSERT_FALSE(blocks.empty());
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(heap.stats().bytes_in_use, gross(100));
    EXPECT_TRUE(intact(keep, 100, 1));
    EXPECT_NE(heap.alloc(kBlock), nullptr); // the rewind gave the region back
}

TEST(RegionTest, GranulesOfADestroyedHeapAreReused) {
    for (int round = 0; round < 3; ++round) {
        Heap heap;
        EXPECT_EQ(fill_region(heap).size(), kBlocksThatFit) << "round " << round;
    }
}

HeapOptions caching_everything() {
    HeapOptions o;
    o.cache_bytes = kRegion;
    return o;
}

TEST(RegionTest, CachedChunkGranulesGoToAnotherHeapOnlyOnceTrimmed) {
    Heap a(caching_everything());
    std::vector<char*> blocks = fill_region(a);
    ASSERT_GE(blocks.size(), 3u);
    a.free(blocks[1]);
    Heap b;
    EXPECT_EQ(b.alloc(kBlock), nullptr); // cached by a, not back in the region
    a.trim();
    char* p = static_cast<char*>(b.alloc(kBlock));
    EXPECT_EQ(p, blocks[1]);
    EXPECT_EQ(owner_of(p), &b);
}

TEST(RegionTest, FreedLargeChunkAboveCacheBytesGoesBackToTheRegionAtOnce) {
    Heap a; // caches at most 8 MiB: a 64 MiB chunk is not kept
    std::vector<char*> blocks = fill_region(a);
    ASSERT_GE(blocks.size(), 3u);
    a.free(blocks[1]);
    EXPECT_EQ(a.stats().cached_bytes, 0u);
    Heap b;
    char* p = static_cast<char*>(b.alloc(kBlock));
    EXPECT_EQ(p, blocks[1]);
    EXPECT_EQ(owner_of(p), &b);
}

TEST(RegionTest, AdjacentReturnedRunsCoalesce) {
    Heap a(caching_everything()); // so that the test decides when runs go back (trim)
    std::vector<char*> blocks = fill_region(a);
    ASSERT_GE(blocks.size(), 6u);
    // Blocks taken one after another from fresh granules are neighbours.
    for (std::size_t i = 1; i < 6; ++i)
        ASSERT_EQ(blocks[i] - blocks[i - 1],
                  static_cast<std::ptrdiff_t>(kBlockGranules * kGranule));
    Heap b;
    // Returned with the run after it already free: merges forward.
    a.free(blocks[2]);
    a.trim();
    a.free(blocks[1]);
    a.trim();
    EXPECT_NE(b.alloc(2 * kBlock), nullptr);
    // Returned between two free runs: merges both ways.
    a.free(blocks[3]);
    a.trim();
    a.free(blocks[5]);
    a.trim();
    a.free(blocks[4]);
    a.trim();
    EXPECT_NE(b.alloc(3 * kBlock), nullptr);
}

TEST(RegionTest, RewindOfManyChunksAtOnceCachesThemAll) {
    HeapOptions o = caching_everything();
    Heap heap(o);
    Snapshot s = heap.snapshot();
    while (heap.stats().chunks < 40) // far more than any table of chunks starts with
        ASSERT_NE(heap.alloc(30000), nullptr);
    const std::size_t used = heap.stats().chunk_bytes;
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(heap.stats().cached_bytes, used);
    EXPECT_EQ(heap.stats().chunks, 0u);
    Snapshot t = heap.snapshot(); // and all of them come back from the cache
    while (heap.stats().chunks < 40)
        ASSERT_NE(heap.alloc(30000), nullptr);
    EXPECT_EQ(heap.stats().chunk_bytes + heap.stats().cached_bytes, used);
    ASSERT_EQ(heap.rewind(t), RewindStatus::ok);
}

// Runs in a child process of its own (threadsafe death tests re-execute the binary), where
// no heap has reserved the region yet, with too little address space left to reserve it.
TEST(RegionTest, AllocationFailsCleanlyWhenTheRegionCannotBeReserved) {
    if (PX_TEST_SANITIZED)
        GTEST_SKIP() << "an address-space limit breaks the sanitizer runtime's shadow mappings";
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            std::size_t pages = 0;
            std::ifstream("/proc/self/statm") >> pages;
            rlimit limit{};
            getrlimit(RLIMIT_AS, &limit);
            limit.rlim_cur = pages * 4096 + 256 * kMiB; // the region needs 1 GiB
            if (setrlimit(RLIMIT_AS, &limit) != 0)
                std::exit(2);
            bool told = !reserve_region() && !reserve_region(); // asked first, and again
            Heap heap;
            bool refused = heap.alloc(100) == nullptr && heap.alloc(100000) == nullptr &&
                           heap.alloc(100) == nullptr; // and no retry that might crash
            bool counted = heap.stats().failed == 3 && heap.stats().chunks == 0;
            std::exit(told && refused && counted ? 0 : 1);
        },
        testing::ExitedWithCode(0), "");
}

} // namespace
} // namespace px::test
