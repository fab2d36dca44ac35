// main_thread_test.cpp — register_main_thread(), unregister_main_thread(), is_main_thread().
//
// Registration is process-wide, so every test leaves it as it found it: unregistered.
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>
#include <vector>

#include "px/guards.h"

namespace px {
namespace {

class MainThreadTest : public testing::Test {
protected:
    void TearDown() override { unregister_main_thread(); }
};

// Runs f on a new thread and returns its result.
template <class F> auto on_other_thread(F f) {
    decltype(f()) result{};
    std::thread t([&] { result = f(); });
    t.join();
    return result;
}

TEST_F(MainThreadTest, NoThreadIsMainUntilOneRegisters) { EXPECT_FALSE(is_main_thread()); }

TEST_F(MainThreadTest, RegisteringMarksTheCallingThread) {
    EXPECT_TRUE(register_main_thread());
    EXPECT_TRUE(is_main_thread());
}

TEST_F(MainThreadTest, RegisteringTheSameThreadTwiceSucceeds) {
    ASSERT_TRUE(register_main_thread());
    EXPECT_TRUE(register_main_thread());
    EXPECT_TRUE(is_main_thread());
}

TEST_F(MainThreadTest, OtherThreadsAreNotMain) {
    ASSERT_TRUE(register_main_thread());
    EXPECT_FALSE(on_other_thread([] { return is_main_thread(); }));
}

TEST_F(MainThreadTest, SecondThreadCannotRegister) {
    ASSERT_TRUE(register_main_thread());
    struct Outcome {
        bool registered = true;
        bool main = true;
    };
    Outcome o = on_other_thread([] { return Outcome{register_main_thread(), is_main_thread()}; });
    EXPECT_FALSE(o.registered);
    EXPECT_FALSE(o.main);
    EXPECT_TRUE(is_main_thread()); // the first registration stands
}

TEST_F(MainThreadTest, UnregisterForgetsTheRegistration) {
    ASSERT_TRUE(register_main_thread());
    unregister_main_thread();
    EXPECT_FALSE(is_main_thread());
    EXPECT_TRUE(register_main_thread()); // and the same thread may register again
}

TEST_F(MainThreadTest, AfterUnregisterAnotherThreadMayRegister) {
    ASSERT_TRUE(register_main_thread());
    unregister_main_thread();
    EXPECT_TRUE(on_other_thread([] {
        bool ok = register_main_thread() && is_main_thread();
        unregister_main_thread();
        return ok;
    }));
    EXPECT_FALSE(is_main_thread());
}

TEST_F(MainThreadTest, UnregisterFromAThreadThatIsNotMainChangesNothing) {
    ASSERT_TRUE(register_main_thread());
    bool stolen = on_other_thread([] {
        unregister_main_thread();
        return register_main_thread();
    });
    EXPECT_FALSE(stolen);
    EXPECT_TRUE(is_main_thread());
}

TEST_F(MainThreadTest, UnregisterWithoutRegistrationIsHarmless) {
    unregister_main_thread();
    EXPECT_FALSE(is_main_thread());
    EXPECT_TRUE(register_main_thread());
}

TEST_F(MainThreadTest, ExactlyOneOfManyRacingThreadsWins) {
    constexpr int kThreads = 8;
    std::latch start(kThreads);
    std::latch tried(kThreads);
    std::atomic<int> winners{0};
    std::atomic<int> mains{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
        threads.emplace_back([&] {
            start.arrive_and_wait();
            bool won = register_main_thread();
            winners.fetch_add(won ? 1 : 0);
            mains.fetch_add(is_main_thread() ? 1 : 0);
            tried.arrive_and_wait(); // nobody unregisters before everybody has tried
            if (won)
                unregister_main_thread();
        });
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(winners.load(), 1);
    EXPECT_EQ(mains.load(), 1);
    EXPECT_TRUE(register_main_thread()); // the winner released it
}

} // namespace
} // namespace px
