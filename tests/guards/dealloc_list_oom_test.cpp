// dealloc_list_oom_test.cpp — DeallocList::track() when its main-memory index cannot grow.
//
// The index of a DeallocList lives in main memory (operator new), not in the heap; the
// px_oom_test executable makes operator new fail on demand (tests/support).
#include <gtest/gtest.h>

#include "../support/fail_operator_new.h"
#include "px/guards.h"

namespace px {
namespace {

int g_deallocs = 0;
void count_dealloc(void*) { ++g_deallocs; }

class DeallocListOomTest : public testing::Test {
protected:
    void SetUp() override {
        g_deallocs = 0;
        // The heap takes its first chunk (and the region its bookkeeping) now, so the only
        // main-memory allocation left in track() is the index's.
        void* warm = heap.alloc(16);
        ASSERT_NE(warm, nullptr);
        heap.free(warm);
    }
    Heap heap;
};

TEST_F(DeallocListOomTest, TrackIsOutOfMemoryWhenTheIndexCannotGrow) {
    DeallocList list(heap);
    Snapshot s = heap.snapshot();
    int object = 0;
    const std::size_t before = heap.stats().bytes_in_use;
    TrackStatus st;
    {
        test::FailOperatorNew failing;
        st = list.track(&object, &count_dealloc);
    }
    EXPECT_EQ(st, TrackStatus::out_of_memory);
    EXPECT_FALSE(list.is_tracked(&object));
    EXPECT_EQ(list.size(), 0u);
    EXPECT_EQ(heap.stats().bytes_in_use, before); // the heap-side record was given back
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(g_deallocs, 0); // and its callback cancelled
}

TEST_F(DeallocListOomTest, ListWorksNormallyAfterAFailedTrack) {
    DeallocList list(heap);
    int a = 0, b = 0;
    {
        test::FailOperatorNew failing;
        EXPECT_EQ(list.track(&a, &count_dealloc), TrackStatus::out_of_memory);
    }
    Snapshot s = heap.snapshot();
    EXPECT_EQ(list.track(&a, &count_dealloc), TrackStatus::ok);
    EXPECT_EQ(list.track(&b, &count_dealloc), TrackStatus::ok);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(g_deallocs, 2);
}

} // namespace
} // namespace px
