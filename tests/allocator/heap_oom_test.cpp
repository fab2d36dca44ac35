// heap_oom_test.cpp — the heap when main memory (operator new) runs out.
//
// alloc() is noexcept and promises nullptr when "the OS refuses memory". Some bookkeeping
// outside the region (the malloc_per_allocation registry, the region's index of free runs)
// allocates with operator new; if that throws inside a noexcept function the process
// terminates instead. The px_oom_test executable makes operator new fail on demand
// (tests/support).
#include <gtest/gtest.h>

#include "../support/fail_operator_new.h"
#include "heap_test_support.h"
#include "px/heap.h"

namespace px::test {
namespace {

TEST(HeapOomTest, MallocModeAllocationFailsCleanlyWhenItsBookkeepingCannotGrow) {
    HeapOptions o;
    o.malloc_per_allocation = true;
    Heap heap(o);
    void* first = heap.alloc(64); // the registry exists; the next block needs a new node
    ASSERT_NE(first, nullptr);
    void* p = nullptr;
    {
        FailOperatorNew failing;
        p = heap.alloc(64);
    }
    EXPECT_EQ(p, nullptr);
    EXPECT_EQ(heap.stats().failed, 1u);
    EXPECT_EQ(heap.stats().bytes_in_use, gross(64));
    EXPECT_EQ(owner_of(first), &heap);
    heap.free(p);
}

// The region's index of free granule runs is a std::map too. Taking part of a free run splits
// it, which inserts a node for the rest.
TEST(HeapOomTest, AllocationFailsCleanlyWhenTheRegionsFreeRunIndexCannotGrow) {
    HeapOptions no_cache;
    no_cache.cache_bytes = 0; // a freed large block goes straight back to the region
    Heap a(no_cache);
    void* wide = a.alloc(200000);  // 4 granules
    void* fence = a.alloc(100000); // keeps the run from merging with anything
    ASSERT_TRUE(wide && fence);
    a.free(wide); // a free run of 4 granules
    Heap b;
    void* p = nullptr;
    {
        FailOperatorNew failing;
        p = b.alloc(100000); // 2 of those 4 granules: the other 2 need a node
    }
    if (p != nullptr) { // either outcome is fine, as long as the heap is consistent
        EXPECT_EQ(owner_of(p), &b);
        b.free(p);
    } else {
        EXPECT_EQ(b.stats().failed, 1u);
    }
    EXPECT_NE(b.alloc(100000), nullptr);
}

// Returning a chunk whose neighbours are in use adds a free run: free() cannot fail, so it
// must not need memory it might not get (at worst the granules stay unusable).
TEST(HeapOomTest, FreeingALargeBlockSurvivesWhenTheRegionsFreeRunIndexCannotGrow) {
    HeapOptions no_cache;
    no_cache.cache_bytes = 0;
    Heap heap(no_cache);
    void* before = heap.alloc(100000);
    void* middle = heap.alloc(100000);
    void* after = heap.alloc(100000);
    ASSERT_TRUE(before && middle && after);
    {
        FailOperatorNew failing;
        heap.free(middle);
    }
    EXPECT_EQ(heap.stats().bytes_in_use, 2 * gross(100000));
    EXPECT_NE(heap.alloc(100000), nullptr);
}

} // namespace
} // namespace px::test
