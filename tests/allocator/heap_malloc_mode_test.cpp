// heap_malloc_mode_test.cpp — what is particular to HeapOptions::malloc_per_allocation. The
// behaviours every heap shares run in this mode too: the other files instantiate their
// parameterised suites for it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "heap_test_support.h"
#include "px/heap.h"

namespace px::test {
namespace {

HeapOptions malloc_mode() {
    HeapOptions o;
    o.malloc_per_allocation = true;
    return o;
}

TEST(MallocModeTest, HeapHoldsNoChunks) {
    Heap heap(malloc_mode());
    Snapshot s = heap.snapshot();
    for (std::size_t n : {10, 3000, 50000, 5 * 1024 * 1024})
        ASSERT_NE(heap.alloc(n), nullptr);
    HeapStats st = heap.stats();
    EXPECT_EQ(st.chunks, 0u);
    EXPECT_EQ(st.chunk_bytes, 0u);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(heap.stats().cached_bytes, 0u);
}

TEST(MallocModeTest, FreedBlockIsOwnedByNoHeapAtOnce) {
    Heap heap(malloc_mode());
    void* p = heap.alloc(64);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(owner_of(p), &heap);
    heap.free(p);
    EXPECT_EQ(owner_of(p), nullptr);
}

TEST(MallocModeTest, BlockFreedAfterTheSnapshotIsReturnedAtOnce) {
    Heap heap(malloc_mode());
    void* p = heap.alloc(64);
    ASSERT_NE(p, nullptr);
    Snapshot s = heap.snapshot();
    heap.free(p);
    EXPECT_EQ(owner_of(p), nullptr); // no reuse hazard: malloc owns it again
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
}

TEST(MallocModeTest, RewindReleasesOnlyBlocksNewerThanTheSnapshot) {
    Heap heap(malloc_mode());
    void* base = heap.alloc(100);
    Snapshot s1 = heap.snapshot();
    void* a = heap.alloc(100);
    Snapshot s2 = heap.snapshot();
    void* b = heap.alloc(100);
    void* c = heap.alloc(70000);
    ASSERT_TRUE(base && a && b && c);
    fill(a, 100, 1);
    ASSERT_EQ(heap.rewind(s2), RewindStatus::ok);
    EXPECT_EQ(owner_of(b), nullptr);
    EXPECT_EQ(owner_of(c), nullptr);
    EXPECT_EQ(owner_of(a), &heap);
    EXPECT_TRUE(intact(a, 100, 1));
    EXPECT_EQ(heap.stats().bytes_in_use, 2 * gross(100));
    ASSERT_EQ(heap.rewind(s1), RewindStatus::ok);
    EXPECT_EQ(owner_of(a), nullptr);
    EXPECT_EQ(owner_of(base), &heap);
    EXPECT_EQ(heap.stats().bytes_in_use, gross(100));
}

TEST(MallocModeTest, BlocksFreedOutOfOrderLeaveTheOthersOwned) {
    Heap heap(malloc_mode());
    std::vector<void*> blocks;
    for (int i = 0; i < 10; ++i)
        blocks.push_back(heap.alloc(static_cast<std::size_t>(i) * 100 + 1));
    for (int i : {0, 9, 5}) // oldest, newest, middle
        heap.free(blocks[static_cast<std::size_t>(i)]);
    for (int i = 0; i < 10; ++i) {
        bool freed = i == 0 || i == 9 || i == 5;
        EXPECT_EQ(owner_of(blocks[static_cast<std::size_t>(i)]), freed ? nullptr : &heap)
            << "block " << i;
    }
}

TEST(MallocModeTest, RegionAndMallocHeapsCoexist) {
    Heap region;
    Heap by_malloc(malloc_mode());
    void* r = region.alloc(100);
    void* m = by_malloc.alloc(100);
    ASSERT_TRUE(r && m);
    EXPECT_EQ(owner_of(r), &region);
    EXPECT_EQ(owner_of(m), &by_malloc);
}

TEST(MallocModeTest, PlainMallocIsMainMemoryAgainOnceTheLastMallocHeapIsGone) {
    void* plain = std::malloc(64);
    ASSERT_NE(plain, nullptr);
    {
        Heap by_malloc(malloc_mode());
        ASSERT_NE(by_malloc.alloc(10), nullptr);
        EXPECT_EQ(owner_of(plain), nullptr);
    }
    EXPECT_EQ(owner_of(plain), nullptr);
    EXPECT_FALSE(is_context_memory(plain));
    std::free(plain);
}

TEST(MallocModeTest, AllocationMallocRefusesFailsCleanly) {
    if (PX_TEST_SANITIZED)
        GTEST_SKIP() << "sanitizer allocators abort on impossible sizes instead of failing";
    Heap heap(malloc_mode());
    // Small enough to pass the heap's own size check, far too large for any malloc.
    EXPECT_EQ(heap.alloc(std::size_t{1} << 60), nullptr);
    EXPECT_EQ(heap.stats().failed, 1u);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
    void* p = heap.alloc(10);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(owner_of(p), &heap);
}

} // namespace
} // namespace px::test
