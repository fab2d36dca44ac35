// heap_limit_test.cpp — the byte limit: refusals, accounting in gross bytes, recovery.
#include <gtest/gtest.h>

#include <vector>

#include "heap_test_support.h"
#include "px/heap.h"

namespace px::test {
namespace {

class LimitTest : public testing::TestWithParam<Mode> {
protected:
    Heap heap{options_for(GetParam())};

    // Allocates blocks of n bytes until the heap refuses one; returns those it gave.
    std::vector<void*> fill_to_limit(std::size_t n) {
        std::vector<void*> got;
        for (int i = 0; i < 100000; ++i) {
            void* p = heap.alloc(n);
            if (p == nullptr)
                break;
            fill(p, n, static_cast<std::uint32_t>(got.size()));
            got.push_back(p);
        }
        return got;
    }
};
INSTANTIATE_TEST_SUITE_P(Modes, LimitTest, PX_ALL_HEAP_MODES);

TEST_P(LimitTest, AllocationThatWouldExceedTheLimitReturnsNullptr) {
    heap.set_limit(4096);
    std::vector<void*> got = fill_to_limit(100);
    ASSERT_FALSE(got.empty());
    HeapStats s = heap.stats();
    EXPECT_EQ(got.size(), 4096 / gross(100));
    EXPECT_LE(s.bytes_in_use, 4096u);
    EXPECT_GT(s.bytes_in_use + gross(100), 4096u);
    EXPECT_EQ(s.failed, 1u);
    EXPECT_EQ(s.allocations, got.size());
    EXPECT_LE(s.high_water, 4096u);
}

TEST_P(LimitTest, LimitOptionOfTheConstructorApplies) {
    HeapOptions o = options_for(GetParam());
    o.limit = 1000;
    Heap limited(o);
    EXPECT_NE(limited.alloc(500), nullptr);
    EXPECT_EQ(limited.alloc(500), nullptr);
    EXPECT_EQ(limited.stats().failed, 1u);
}

TEST_P(LimitTest, LimitCountsGrossBytesExactly) {
    heap.set_limit(3 * gross(100));
    EXPECT_NE(heap.alloc(100), nullptr);
    EXPECT_NE(heap.alloc(100), nullptr);
    EXPECT_NE(heap.alloc(100), nullptr); // reaching the limit exactly is allowed
    EXPECT_EQ(heap.stats().bytes_in_use, heap.limit());
    EXPECT_EQ(heap.alloc(1), nullptr);
    EXPECT_EQ(heap.stats().failed, 1u);
}

TEST_P(LimitTest, HeapStaysConsistentAfterARefusal) {
    heap.set_limit(8192);
    std::vector<void*> got = fill_to_limit(200);
    ASSERT_GE(got.size(), 2u);
    for (std::size_t i = 0; i < got.size(); ++i)
        ASSERT_TRUE(intact(got[i], 200, static_cast<std::uint32_t>(i)));
    heap.free(got.back());
    got.pop_back();
    void* p = heap.alloc(200); // room again after a free
    ASSERT_NE(p, nullptr);
    fill(p, 200, 77);
    for (std::size_t i = 0; i < got.size(); ++i)
        ASSERT_TRUE(intact(got[i], 200, static_cast<std::uint32_t>(i)));
    EXPECT_TRUE(intact(p, 200, 77));
}

TEST_P(LimitTest, HeapIsFullyUsableAgainAfterARewind) {
    heap.set_limit(64 * kKiB);
    Snapshot s = heap.snapshot();
    std::size_t first = fill_to_limit(1000).size();
    ASSERT_GT(first, 0u);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
    Snapshot t = heap.snapshot();
    EXPECT_EQ(fill_to_limit(1000).size(), first);
    ASSERT_EQ(heap.rewind(t), RewindStatus::ok);
}

TEST_P(LimitTest, LargeAllocationOverTheLimitIsRefused) {
    heap.set_limit(64 * kKiB);
    EXPECT_EQ(heap.alloc(100000), nullptr);
    EXPECT_EQ(heap.stats().failed, 1u);
    EXPECT_EQ(heap.stats().chunks, 0u);
    void* p = heap.alloc(40000); // a large block within the limit is fine
    ASSERT_NE(p, nullptr);
    heap.free(p);
}

TEST_P(LimitTest, AlignedAllocationOverTheLimitIsRefused) {
    heap.set_limit(64 * kKiB);
    EXPECT_EQ(heap.alloc_aligned(70000, 4096), nullptr);
    EXPECT_EQ(heap.alloc_aligned(64 * kKiB, 256), nullptr);
    EXPECT_EQ(heap.stats().failed, 2u);
    void* p = heap.alloc_aligned(100, 4096);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(aligned_to(p, 4096));
}

TEST_P(LimitTest, SetLimitZeroRemovesTheLimit) {
    heap.set_limit(100);
    EXPECT_EQ(heap.alloc(200), nullptr);
    heap.set_limit(0);
    void* p = heap.alloc(1 * kMiB);
    EXPECT_NE(p, nullptr);
    heap.free(p);
}

TEST_P(LimitTest, LoweringTheLimitBelowBytesInUseRefusesUntilEnoughIsFreed) {
    std::vector<void*> blocks;
    for (int i = 0; i < 10; ++i) {
        blocks.push_back(heap.alloc(1000));
        ASSERT_NE(blocks.back(), nullptr);
        fill(blocks.back(), 1000, static_cast<std::uint32_t>(i));
    }
    heap.set_limit(5 * gross(1000));
    EXPECT_GT(heap.stats().bytes_in_use, heap.limit());
    EXPECT_EQ(heap.alloc(16), nullptr);
    for (int i = 0; i < 5; ++i) { // frees work above the limit
        heap.free(blocks.back());
        blocks.pop_back();
    }
    EXPECT_EQ(heap.alloc(16), nullptr); // exactly at the limit: no room for more
    heap.free(blocks.back());
    blocks.pop_back();
    EXPECT_NE(heap.alloc(1000), nullptr);
    for (std::size_t i = 0; i < blocks.size(); ++i)
        EXPECT_TRUE(intact(blocks[i], 1000, static_cast<std::uint32_t>(i)));
    EXPECT_EQ(heap.stats().failed, 2u);
}

TEST_P(LimitTest, LimitIsASettingThatSurvivesARewind) {
    Snapshot s = heap.snapshot();
    for (int i = 0; i < 8; ++i)
        ASSERT_NE(heap.alloc(4000), nullptr);
    heap.set_limit(gross(4000));
    EXPECT_EQ(heap.alloc(4000), nullptr);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(heap.limit(), gross(4000)); // the limit is a setting, not heap state
    EXPECT_NE(heap.alloc(4000), nullptr);
}

TEST_P(LimitTest, ReallocBeyondTheLimitReturnsNullptrAndKeepsTheBlock) {
    heap.set_limit(gross(1000) + gross(100));
    void* p = heap.alloc(1000);
    ASSERT_NE(p, nullptr);
    fill(p, 1000, 8);
    EXPECT_EQ(heap.realloc(p, 3000), nullptr);
    EXPECT_EQ(heap.stats().failed, 1u);
    EXPECT_TRUE(intact(p, 1000, 8));
    EXPECT_EQ(heap.stats().bytes_in_use, gross(1000));
    heap.free(p);
}

TEST_P(LimitTest, AddCleanupReturnsNullptrAtTheLimit) {
    heap.set_limit(gross(100));
    ASSERT_NE(heap.alloc(100), nullptr);
    EXPECT_EQ(heap.add_cleanup([](void*) {}, nullptr), nullptr);
    EXPECT_EQ(heap.stats().failed, 1u);
}

TEST_P(LimitTest, RefusedAllocationIsNotCountedAsAnAllocation) {
    heap.set_limit(10);
    EXPECT_EQ(heap.alloc(100), nullptr);
    EXPECT_EQ(heap.alloc(50000), nullptr);
    HeapStats s = heap.stats();
    EXPECT_EQ(s.allocations, 0u);
    EXPECT_EQ(s.failed, 2u);
    EXPECT_EQ(s.bytes_in_use, 0u);
    EXPECT_EQ(s.high_water, 0u);
}

TEST_P(LimitTest, LimitHoldsWhenLargeAndSmallAllocationsMix) {
    // The bump path checks the limit against a precomputed end: a large block taken in
    // between must shrink the room left for small ones.
    heap.set_limit(150 * kKiB);
    ASSERT_NE(heap.alloc(16), nullptr);
    ASSERT_NE(heap.alloc(100000), nullptr);
    int small = 0;
    while (heap.alloc(1000) != nullptr) {
        ++small;
        ASSERT_LE(heap.stats().bytes_held, heap.limit()) << small << " small blocks";
    }
    EXPECT_GT(small, 0);
    EXPECT_LE(heap.stats().bytes_in_use, heap.limit());
    EXPECT_GT(heap.stats().bytes_in_use + gross(1000), heap.limit());
}

TEST_P(LimitTest, RaisingTheLimitGivesRoomAtOnce) {
    heap.set_limit(10 * kKiB);
    while (heap.alloc(500) != nullptr) {
    }
    heap.set_limit(20 * kKiB);
    EXPECT_NE(heap.alloc(500), nullptr);
    EXPECT_LE(heap.stats().bytes_held, 20 * kKiB);
}

class ChunkLimitTest : public LimitTest {};
INSTANTIATE_TEST_SUITE_P(Modes, ChunkLimitTest, PX_CHUNK_HEAP_MODES);

TEST_P(ChunkLimitTest, ReallocWithinTheSizeClassSucceedsAtTheLimit) {
    heap.set_limit(gross(20));
    void* p = heap.alloc(20);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(heap.realloc(p, 30), p); // same 32-byte class: no new bytes in use
}

TEST_P(ChunkLimitTest, LimitCountsFreedBlocksUntilTheRewind) {
    heap.set_limit(10 * gross(1000));
    Snapshot s = heap.snapshot();
    std::vector<void*> blocks;
    for (int i = 0; i < 10; ++i) {
        blocks.push_back(heap.alloc(1000));
        ASSERT_NE(blocks.back(), nullptr);
    }
    for (void* p : blocks)
        heap.free(p);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
    // Freed blocks are still held: another size cannot have their bytes, the same size can.
    EXPECT_EQ(heap.alloc(100), nullptr);
    EXPECT_NE(heap.alloc(1000), nullptr);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_NE(heap.alloc(100), nullptr); // the rewind gave everything back
}

TEST_P(ChunkLimitTest, FreedBlockIsReusedAtTheLimit) {
    heap.set_limit(2 * gross(64));
    void* a = heap.alloc(64);
    void* b = heap.alloc(64);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(heap.alloc(64), nullptr);
    heap.free(a);
    EXPECT_EQ(heap.alloc(64), a);
}

} // namespace
} // namespace px::test
