// heap_oom_test.cpp — the heap when main memory (operator new) runs out.
//
// alloc() is noexcept and promises nullptr when "the OS refuses memory". Its bookkeeping
// outside the region (the malloc_per_allocation registry, a std::map) allocates with operator
// new; if that throws inside a noexcept function the process terminates instead. The
// px_oom_test executable makes operator new fail on demand (tests/support).
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

} // namespace
} // namespace px::test
