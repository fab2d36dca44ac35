// context_test.cpp — Context, ContextScope, in_parallel_context(), current_context().
#include <gtest/gtest.h>

#include <thread>

#include "px/guards.h"

namespace px {
namespace {

TEST(ContextTest, NoContextByDefault) {
    EXPECT_FALSE(in_parallel_context());
    EXPECT_EQ(current_context(), nullptr);
}

TEST(ContextTest, ScopeEntersTheContext) {
    Heap heap;
    Context ctx{&heap, 3, nullptr};
    ContextScope scope(ctx);
    EXPECT_TRUE(in_parallel_context());
    EXPECT_EQ(current_context(), &ctx);
    EXPECT_EQ(current_context()->heap, &heap);
    EXPECT_EQ(current_context()->worker, 3u);
}

TEST(ContextTest, LeavingTheScopeLeavesTheContext) {
    Context ctx;
    {
        ContextScope scope(ctx);
        ASSERT_TRUE(in_parallel_context());
    }
    EXPECT_FALSE(in_parallel_context());
    EXPECT_EQ(current_context(), nullptr);
}

TEST(ContextTest, NestedScopesRestoreTheOuterContext) {
    Context outer{nullptr, 1, nullptr};
    Context inner{nullptr, 2, nullptr};
    {
        ContextScope a(outer);
        {
            ContextScope b(inner);
            EXPECT_EQ(current_context(), &inner);
            {
                ContextScope c(outer); // re-entering one already entered is fine
                EXPECT_EQ(current_context(), &outer);
            }
            EXPECT_EQ(current_context(), &inner);
        }
        EXPECT_EQ(current_context(), &outer);
        EXPECT_TRUE(in_parallel_context());
    }
    EXPECT_FALSE(in_parallel_context());
}

TEST(ContextTest, ContextIsPerThread) {
    Context mine{nullptr, 1, nullptr};
    Context theirs{nullptr, 2, nullptr};
    ContextScope scope(mine);
    bool other_saw_context = true;
    Context* other_inside = nullptr;
    std::thread t([&] {
        other_saw_context = in_parallel_context();
        ContextScope s(theirs);
        other_inside = current_context();
    });
    t.join();
    EXPECT_FALSE(other_saw_context);
    EXPECT_EQ(other_inside, &theirs);
    EXPECT_EQ(current_context(), &mine); // untouched by the other thread's scope
}

TEST(ContextTest, UserPointerIsCarriedThrough) {
    int state = 0;
    Context ctx{nullptr, 9, &state};
    ContextScope scope(ctx);
    EXPECT_EQ(current_context()->user, &state);
}

} // namespace
} // namespace px
