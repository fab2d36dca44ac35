// dealloc_list_test.cpp — DeallocList: PX_DEALLOC callbacks at rewind, untracking, limits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "px/guards.h"

namespace px {
namespace {

// An object whose dealloc callback records that it ran, and whether its bytes were intact.
struct Object {
    static constexpr std::uint64_t kAlive = 0x0b1ec7a11feull;
    std::uint64_t magic;
    int id;
    std::uint8_t payload[40];
};

// What the callbacks saw. DeallocFn has no user argument, so this is a global the fixture
// resets for every test.
struct Log {
    std::vector<int> ran;
    int damaged = 0;
    DeallocList* list = nullptr; // for callbacks that use the list
    std::vector<void*> untrack_these;
    std::vector<bool> untrack_results;
};
Log g_log;

bool object_intact(const Object* o) {
    if (o->magic != Object::kAlive)
        return false;
    for (std::size_t i = 0; i < sizeof o->payload; ++i)
        if (o->payload[i] != static_cast<std::uint8_t>(o->id + static_cast<int>(i)))
            return false;
    return true;
}

void record_dealloc(void* object) {
    auto* o = static_cast<Object*>(object);
    if (!object_intact(o))
        ++g_log.damaged;
    g_log.ran.push_back(o->id);
}

// Untracks itself, then the objects listed in g_log.untrack_these.
void untracking_dealloc(void* object) {
    record_dealloc(object);
    g_log.untrack_results.push_back(g_log.list->untrack(object));
    for (void* other : g_log.untrack_these)
        g_log.untrack_results.push_back(g_log.list->untrack(other));
    g_log.untrack_these.clear();
}

class DeallocListTest : public testing::Test {
protected:
    void SetUp() override { g_log = Log{}; }

    Object* make(int id, Heap& h) {
        auto* o = static_cast<Object*>(h.alloc(sizeof(Object)));
        EXPECT_NE(o, nullptr);
        if (o == nullptr)
            return nullptr;
        o->magic = Object::kAlive;
        o->id = id;
        for (std::size_t i = 0; i < sizeof o->payload; ++i)
            o->payload[i] = static_cast<std::uint8_t>(id + static_cast<int>(i));
        return o;
    }
    Object* make(int id) { return make(id, heap); }

    Heap heap;
};

TEST_F(DeallocListTest, NewListIsEmptyAndNamesItsHeap) {
    DeallocList list(heap);
    EXPECT_EQ(list.size(), 0u);
    EXPECT_EQ(&list.heap(), &heap);
}

TEST_F(DeallocListTest, TrackedObjectIsTracked) {
    DeallocList list(heap);
    Object* o = make(1);
    EXPECT_EQ(list.track(o, &record_dealloc), TrackStatus::ok);
    EXPECT_TRUE(list.is_tracked(o));
    EXPECT_EQ(list.size(), 1u);
}

TEST_F(DeallocListTest, CallbacksRunAtRewindNewestFirst) {
    DeallocList list(heap);
    Snapshot s = heap.snapshot();
    for (int id = 1; id <= 5; ++id)
        ASSERT_EQ(list.track(make(id), &record_dealloc), TrackStatus::ok);
    EXPECT_TRUE(g_log.ran.empty());
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(g_log.ran, (std::vector<int>{5, 4, 3, 2, 1}));
    EXPECT_EQ(list.size(), 0u);
}

TEST_F(DeallocListTest, RunAllRunsEveryCallbackNewestFirstOnceAndTheRewindNone) {
    DeallocList list(heap);
    Snapshot s = heap.snapshot();
    std::vector<Object*> objects;
    for (int id = 1; id <= 6; ++id) {
        objects.push_back(make(id));
        ASSERT_EQ(list.track(objects.back(), &record_dealloc), TrackStatus::ok);
    }
    EXPECT_TRUE(list.untrack(objects[2])); // died earlier: never called
    EXPECT_EQ(list.run_all(), 5u);
    EXPECT_EQ(g_log.ran, (std::vector<int>{6, 5, 4, 2, 1}));
    EXPECT_EQ(g_log.damaged, 0) << "objects are intact while their callbacks run";
    EXPECT_EQ(list.size(), 0u);
    EXPECT_FALSE(list.untrack(objects[0]));
    EXPECT_EQ(list.run_all(), 0u);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(g_log.ran.size(), 5u) << "nothing runs twice";
}

// Tracks one more object the first time it runs: run_all() must run that one too.
void tracking_dealloc(void* object) {
    record_dealloc(object);
    static Object late;
    if (g_log.ran.size() == 1) {
        late = *static_cast<Object*>(object);
        late.id = 99;
        for (std::size_t i = 0; i < sizeof late.payload; ++i)
            late.payload[i] = static_cast<std::uint8_t>(late.id + static_cast<int>(i));
        EXPECT_EQ(g_log.list->track(&late, &record_dealloc), TrackStatus::ok);
    }
}

TEST_F(DeallocListTest, AKeyOtherThanTheObjectNamesItInUntrack) {
    DeallocList list(heap);
    Snapshot s = heap.snapshot();
    auto* block = static_cast<char*>(heap.alloc(sizeof(Object) + 16));
    auto* a = reinterpret_cast<Object*>(block + 16); // the object after a 16-byte pre-header
    *a = *make(1);
    Object* b = make(2);
    ASSERT_EQ(list.track(a, &record_dealloc, block), TrackStatus::ok);
    ASSERT_EQ(list.track(b, &record_dealloc, b), TrackStatus::ok);
    EXPECT_TRUE(list.is_tracked(block));
    EXPECT_FALSE(list.is_tracked(a));
    EXPECT_EQ(list.track(a, &record_dealloc, block), TrackStatus::already_tracked);
    EXPECT_FALSE(list.untrack(a));
    EXPECT_TRUE(list.untrack(block));
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(g_log.ran, std::vector<int>{2}) << "fn gets the object, the key only names it";
}

TEST_F(DeallocListTest, RunAllRunsWhatItsCallbacksTrack) {
    DeallocList list(heap);
    g_log.list = &list;
    ASSERT_EQ(list.track(make(1), &record_dealloc), TrackStatus::ok);
    ASSERT_EQ(list.track(make(2), &tracking_dealloc), TrackStatus::ok);
    EXPECT_EQ(list.run_all(), 3u);
    EXPECT_EQ(g_log.ran, (std::vector<int>{2, 99, 1}));
}

TEST_F(DeallocListTest, CallbacksSeeTheirObjectsIntactBeforeTheMemoryIsReleased) {
    DeallocList list(heap);
    Snapshot s = heap.snapshot();
    for (int id = 1; id <= 50; ++id) {
        ASSERT_EQ(list.track(make(id), &record_dealloc), TrackStatus::ok);
        ASSERT_NE(heap.alloc(static_cast<std::size_t>(id) * 300), nullptr); // other garbage
    }
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(g_log.ran.size(), 50u);
    EXPECT_EQ(g_log.damaged, 0);
}

TEST_F(DeallocListTest, CallbackRunsExactlyOnce) {
    {
        DeallocList list(heap);
        Snapshot s = heap.snapshot();
        Object* o = make(7);
        ASSERT_EQ(list.track(o, &record_dealloc), TrackStatus::ok);
        ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
        EXPECT_FALSE(list.is_tracked(o));
        EXPECT_FALSE(list.untrack(o)); // already gone
        Snapshot t = heap.snapshot();
        ASSERT_EQ(heap.rewind(t), RewindStatus::ok);
    }
    EXPECT_EQ(g_log.ran, std::vector<int>{7});
}

TEST_F(DeallocListTest, UntrackedObjectsCallbackNeverRuns) {
    DeallocList list(heap);
    Snapshot s = heap.snapshot();
    Object* a = make(1);
    Object* b = make(2);
    ASSERT_EQ(list.track(a, &record_dealloc), TrackStatus::ok);
    ASSERT_EQ(list.track(b, &record_dealloc), TrackStatus::ok);
    EXPECT_TRUE(list.untrack(a));
    EXPECT_FALSE(list.is_tracked(a));
    EXPECT_EQ(list.size(), 1u);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(g_log.ran, std::vector<int>{2});
}

TEST_F(DeallocListTest, UntrackOfAnObjectNeverTrackedReturnsFalse) {
    DeallocList list(heap);
    int plain = 0;
    EXPECT_FALSE(list.untrack(&plain));
    EXPECT_FALSE(list.is_tracked(&plain));
}

TEST_F(DeallocListTest, UntrackGivesBackTheTrackingBytes) {
    DeallocList list(heap);
    Object* o = make(1);
    const std::size_t before = heap.stats().bytes_in_use;
    ASSERT_EQ(list.track(o, &record_dealloc), TrackStatus::ok);
    EXPECT_GT(heap.stats().bytes_in_use, before); // tracking costs heap bytes
    ASSERT_TRUE(list.untrack(o));
    EXPECT_EQ(heap.stats().bytes_in_use, before);
}

TEST_F(DeallocListTest, TrackingTwiceIsAlreadyTracked) {
    DeallocList list(heap);
    Object* o = make(1);
    ASSERT_EQ(list.track(o, &record_dealloc), TrackStatus::ok);
    const std::size_t in_use = heap.stats().bytes_in_use;
    EXPECT_EQ(list.track(o, &record_dealloc), TrackStatus::already_tracked);
    EXPECT_EQ(list.size(), 1u);
    EXPECT_EQ(heap.stats().bytes_in_use, in_use);
    Snapshot s = heap.snapshot();
    // Already tracked from an older frame: still refused, still one callback in the end.
    EXPECT_EQ(list.track(o, &record_dealloc), TrackStatus::already_tracked);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_TRUE(g_log.ran.empty());
}

TEST_F(DeallocListTest, TrackAtTheHeapsLimitIsOutOfMemory) {
    DeallocList list(heap);
    Object* o = make(1);
    heap.set_limit(heap.stats().bytes_in_use);
    EXPECT_EQ(list.track(o, &record_dealloc), TrackStatus::out_of_memory);
    EXPECT_FALSE(list.is_tracked(o));
    EXPECT_EQ(list.size(), 0u);
}

TEST_F(DeallocListTest, RefusedTrackLeavesNoBytesBehindAtAnyLimit) {
    // Tracking takes more than one heap allocation; whichever one the limit refuses, the
    // others are given back and the object is simply not tracked.
    DeallocList list(heap);
    Object* o = make(1);
    const std::size_t base = heap.stats().bytes_in_use;
    int refused = 0;
    bool succeeded = false;
    for (std::size_t extra = 0; extra <= 512 && !succeeded; extra += 16) {
        heap.set_limit(base + extra);
        TrackStatus st = list.track(o, &record_dealloc);
        if (st == TrackStatus::ok) {
            succeeded = true;
            EXPECT_TRUE(list.is_tracked(o));
        } else {
            ASSERT_EQ(st, TrackStatus::out_of_memory) << "extra = " << extra;
            ++refused;
            EXPECT_FALSE(list.is_tracked(o));
            EXPECT_EQ(heap.stats().bytes_in_use, base) << "extra = " << extra;
        }
    }
    EXPECT_TRUE(succeeded);
    EXPECT_GE(refused, 2); // some limits refuse the first allocation, some the second
}

TEST_F(DeallocListTest, UntrackInRandomOrderForgetsEveryObject) {
    constexpr int kObjects = 100000;
    std::vector<Object> objects(kObjects);
    DeallocList list(heap);
    const std::size_t before = heap.stats().bytes_in_use;
    Snapshot s = heap.snapshot();
    for (auto& o : objects)
        ASSERT_EQ(list.track(&o, &record_dealloc), TrackStatus::ok);
    ASSERT_EQ(list.size(), static_cast<std::size_t>(kObjects));
    std::vector<Object*> order;
    for (auto& o : objects)
        order.push_back(&o);
    std::shuffle(order.begin(), order.end(), std::mt19937(12345));
    for (Object* o : order)
        ASSERT_TRUE(list.untrack(o));
    EXPECT_EQ(list.size(), 0u);
    EXPECT_EQ(heap.stats().bytes_in_use, before);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_TRUE(g_log.ran.empty());
}

TEST_F(DeallocListTest, UntrackInReverseOrderForgetsEveryObject) {
    constexpr int kObjects = 100000;
    std::vector<Object> objects(kObjects);
    DeallocList list(heap);
    for (auto& o : objects)
        ASSERT_EQ(list.track(&o, &record_dealloc), TrackStatus::ok);
    for (auto it = objects.rbegin(); it != objects.rend(); ++it)
        ASSERT_TRUE(list.untrack(&*it));
    EXPECT_EQ(list.size(), 0u);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
}

TEST_F(DeallocListTest, CallbackThatUntracksItsOwnObjectIsHarmless) {
    DeallocList list(heap);
    g_log.list = &list;
    Snapshot s = heap.snapshot();
    ASSERT_EQ(list.track(make(1), &untracking_dealloc), TrackStatus::ok);
    ASSERT_EQ(list.track(make(2), &untracking_dealloc), TrackStatus::ok);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(g_log.ran, (std::vector<int>{2, 1}));
    EXPECT_EQ(g_log.untrack_results, (std::vector<bool>{false, false}));
    EXPECT_EQ(list.size(), 0u);
}

TEST_F(DeallocListTest, CallbackThatUntracksAnObjectNotYetDeallocatedCancelsIt) {
    // A container's dealloc releases the object it holds: that object dies in the container's
    // callback and must not be deallocated a second time by its own.
    DeallocList list(heap);
    g_log.list = &list;
    Snapshot s = heap.snapshot();
    Object* held = make(1);
    Object* container = make(2);
    ASSERT_EQ(list.track(held, &record_dealloc), TrackStatus::ok);
    ASSERT_EQ(list.track(container, &untracking_dealloc), TrackStatus::ok);
    g_log.untrack_these = {held};
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(g_log.ran, std::vector<int>{2});
    EXPECT_EQ(g_log.untrack_results, (std::vector<bool>{false, true}));
}

TEST_F(DeallocListTest, ObjectsTrackedBeforeTheSnapshotSurviveItsRewind) {
    DeallocList list(heap);
    Object* old = make(1);
    ASSERT_EQ(list.track(old, &record_dealloc), TrackStatus::ok);
    Snapshot s = heap.snapshot();
    ASSERT_EQ(list.track(make(2), &record_dealloc), TrackStatus::ok);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(g_log.ran, std::vector<int>{2});
    EXPECT_TRUE(list.is_tracked(old));
    EXPECT_TRUE(object_intact(old));
    EXPECT_TRUE(list.untrack(old));
}

TEST_F(DeallocListTest, ObjectTrackedInAnOuterSnapshotRunsAtThatSnapshotsRewind) {
    DeallocList list(heap);
    Snapshot outer = heap.snapshot();
    ASSERT_EQ(list.track(make(1), &record_dealloc), TrackStatus::ok);
    Snapshot inner = heap.snapshot();
    ASSERT_EQ(list.track(make(2), &record_dealloc), TrackStatus::ok);
    ASSERT_EQ(heap.rewind(inner), RewindStatus::ok);
    EXPECT_EQ(g_log.ran, std::vector<int>{2});
    ASSERT_EQ(heap.rewind(outer), RewindStatus::ok);
    EXPECT_EQ(g_log.ran, (std::vector<int>{2, 1}));
}

TEST_F(DeallocListTest, UntrackInsideASnapshotOfAnOlderObjectSurvivesTheRewind) {
    DeallocList list(heap);
    Object* old = make(1);
    ASSERT_EQ(list.track(old, &record_dealloc), TrackStatus::ok);
    Snapshot s = heap.snapshot();
    EXPECT_TRUE(list.untrack(old));
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_FALSE(list.is_tracked(old));
    Snapshot t = heap.snapshot();
    ASSERT_EQ(heap.rewind(t), RewindStatus::ok);
    EXPECT_TRUE(g_log.ran.empty());
}

TEST_F(DeallocListTest, DestroyingTheListCancelsItsCallbacks) {
    Snapshot s = heap.snapshot();
    {
        DeallocList list(heap);
        ASSERT_EQ(list.track(make(1), &record_dealloc), TrackStatus::ok);
        ASSERT_EQ(list.track(make(2), &record_dealloc), TrackStatus::ok);
    }
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_TRUE(g_log.ran.empty());
}

TEST_F(DeallocListTest, DestroyingTheListGivesBackItsTrackingBytes) {
    Object* a = make(1);
    Object* b = make(2);
    const std::size_t before = heap.stats().bytes_in_use;
    {
        DeallocList list(heap);
        ASSERT_EQ(list.track(a, &record_dealloc), TrackStatus::ok);
        ASSERT_EQ(list.track(b, &record_dealloc), TrackStatus::ok);
    }
    EXPECT_EQ(heap.stats().bytes_in_use, before);
}

TEST_F(DeallocListTest, DestroyingTheListBeforeItsHeapCancelsCallbacksFromOlderFrames) {
    {
        Heap own;
        Object* a = make(1, own);
        Object* b = make(2, own);
        DeallocList list(own); // declared after the heap: destroyed first
        ASSERT_EQ(list.track(a, &record_dealloc), TrackStatus::ok);
        ASSERT_EQ(list.track(b, &record_dealloc), TrackStatus::ok);
        own.snapshot(); // the list dies while a newer snapshot is open
    }
    EXPECT_TRUE(g_log.ran.empty());
}

TEST_F(DeallocListTest, HeapDestructionRunsTheCallbacksStillTracked) {
    auto own = std::make_unique<Heap>();
    auto list = std::make_unique<DeallocList>(*own);
    for (int id = 1; id <= 3; ++id)
        ASSERT_EQ(list->track(make(id, *own), &record_dealloc), TrackStatus::ok);
    own->snapshot();
    ASSERT_EQ(list->track(make(4, *own), &record_dealloc), TrackStatus::ok);
    own.reset(); // the heap goes first: its destructor runs what is still tracked
    EXPECT_EQ(g_log.ran, (std::vector<int>{4, 3, 2, 1}));
    EXPECT_EQ(g_log.damaged, 0);
    EXPECT_EQ(list->size(), 0u); // so destroying the list touches no heap
}

TEST_F(DeallocListTest, ListsOnTheSameHeapAreIndependent) {
    DeallocList first(heap);
    DeallocList second(heap);
    Object* o = make(1);
    Snapshot s = heap.snapshot();
    ASSERT_EQ(first.track(o, &record_dealloc), TrackStatus::ok);
    EXPECT_FALSE(second.is_tracked(o));
    ASSERT_EQ(second.track(make(2), &record_dealloc), TrackStatus::ok);
    EXPECT_FALSE(second.untrack(o));
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(g_log.ran, (std::vector<int>{2, 1}));
}

} // namespace
} // namespace px
