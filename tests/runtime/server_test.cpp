// The socket server with raw C++ protocols: the connection cycle, the transport, the context
// and heap rewinds, stopping and the counters.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "px/runtime.h"
#include "server_support.h"

namespace {

using namespace std::chrono_literals;
using px::runtime::Protocol;
using px::runtime::ProtocolFactory;
using px::runtime::Server;
using px::runtime::ServerOptions;
using px::runtime::Transport;
using pxtest::Client;
using pxtest::RunningServer;

struct EchoEvents {
    std::atomic<int> made{0};
    std::atomic<int> lost{0};
    std::promise<std::error_code> lost_code;
};

// Greets, echoes with a prefix, and answers a few commands.
class Echo final : public Protocol {
public:
    explicit Echo(EchoEvents& events) : events_(events) {}
    void connection_made(Transport& t) override {
        events_.made.fetch_add(1);
        t.send("hello\r\n");
    }
    void data_received(Transport& t, std::string_view data) override {
        if (data == "peer") {
            t.send(t.peer().host + ":" + std::to_string(t.peer().port));
        } else if (data == "bye") {
            t.send("bye\n");
            t.close();
        } else if (data == "context") {
            // Inside the connection's context, whose heap is the one the cycle rewinds.
            bool inside = px::current_context() == &t.context() && px::in_parallel_context() &&
                          t.context().heap != nullptr;
            t.send(inside ? "inside" : "outside");
        } else {
            t.send("You said: ");
            t.send(data);
        }
    }
    void connection_lost(Transport&, std::error_code ec) override {
        if (events_.lost.fetch_add(1) == 0)
            events_.lost_code.set_value(ec);
    }

private:
    EchoEvents& events_;
};

ProtocolFactory echo_factory(EchoEvents& events) {
    return [&events] { return std::make_unique<Echo>(events); };
}

ServerOptions options(unsigned workers = 2) {
    ServerOptions o;
    o.workers = workers;
    return o;
}

// An Echo server on two workers, and clients that have read its greeting.
class EchoTest : public ::testing::Test {
protected:
    std::unique_ptr<Client> greeted() {
        auto c = std::make_unique<Client>(server_.port());
        EXPECT_EQ(c->read(7), "hello\r\n");
        return c;
    }

    EchoEvents events_;
    RunningServer server_{options(), echo_factory(events_)};
};

TEST(Server, BindsAnEphemeralPortAndReportsIt) {
    EchoEvents events;
    Server server(options(), echo_factory(events));
    EXPECT_NE(server.port(), 0);
    EXPECT_EQ(server.workers(), 2u);
}

TEST(Server, DefaultWorkerCountIsTheCpuCount) {
    EchoEvents events;
    Server server(ServerOptions{}, echo_factory(events));
    EXPECT_EQ(server.workers(), px::runtime::cpu_count());
}

TEST(Server, StopBeforeRunMakesRunReturnAtOnce) {
    EchoEvents events;
    Server server(options(), echo_factory(events));
    server.stop();
    auto t0 = std::chrono::steady_clock::now();
    server.run();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

TEST(Server, BindingAPortInUseThrows) {
    EchoEvents events;
    Server first(options(), echo_factory(events));
    ServerOptions o = options();
    o.port = first.port();
    // SO_REUSEADDR does not allow two listeners on one port.
    EXPECT_THROW(Server(o, echo_factory(events)), std::system_error);
}

TEST(Server, ThreadHooksRunOncePerWorkerAroundEveryCallback) {
    std::mutex mu;
    std::map<unsigned, std::thread::id> started, stopped;
    std::atomic<bool> callback_outside_hooks{false};
    thread_local bool t_started = false;
    EchoEvents events;
    ServerOptions o = options(2);
    o.thread_start = [&](unsigned id) {
        std::lock_guard lock(mu);
        EXPECT_TRUE(started.emplace(id, std::this_thread::get_id()).second) << id;
        t_started = true;
    };
    o.thread_stop = [&](unsigned id) {
        std::lock_guard lock(mu);
        EXPECT_TRUE(stopped.emplace(id, std::this_thread::get_id()).second) << id;
        t_started = false;
    };
    auto factory = [&] {
        if (!t_started)
            callback_outside_hooks = true;
        return std::make_unique<Echo>(events);
    };
    {
        RunningServer server(o, factory);
        for (int i = 0; i < 4; ++i) {
            Client c(server.port());
            EXPECT_EQ(c.read(7), "hello\r\n");
        }
    }
    EXPECT_FALSE(callback_outside_hooks.load());
    ASSERT_EQ(started.size(), 2u);
    EXPECT_EQ(started, stopped); // same ids, each stopped on the thread it started on
    EXPECT_EQ(started.count(1) + started.count(2), 2u);
    EXPECT_NE(started[1], started[2]);
    EXPECT_NE(started[1], std::this_thread::get_id());
}

TEST_F(EchoTest, GreetsEchoesAndReportsTheLoss) {
    auto c = greeted();
    ASSERT_TRUE(c->send("abc"));
    EXPECT_EQ(c->read(13), "You said: abc");
    c->close();
    auto lost = events_.lost_code.get_future();
    ASSERT_EQ(lost.wait_for(5s), std::future_status::ready);
    EXPECT_FALSE(lost.get()) << "a clean end of stream is not an error";
    EXPECT_EQ(events_.made.load(), 1);
    EXPECT_EQ(events_.lost.load(), 1);
}

TEST_F(EchoTest, PeerIsTheClientsAddress) {
    auto c = greeted();
    ASSERT_TRUE(c->send("peer"));
    std::string expected = "127.0.0.1:" + std::to_string(c->local_port());
    EXPECT_EQ(c->read(expected.size()), expected);
}

TEST_F(EchoTest, CallbacksRunInsideTheConnectionsContext) {
    auto c = greeted();
    ASSERT_TRUE(c->send("context"));
    EXPECT_EQ(c->read(6), "inside");
}

TEST_F(EchoTest, CloseSendsWhatIsQueuedThenEndsTheStream) {
    auto c = greeted();
    ASSERT_TRUE(c->send("bye"));
    EXPECT_EQ(c->read(4), "bye\n");
    EXPECT_TRUE(c->at_eof());
}

// Sends a file range with sendfile(2): "<offset> <length>" selects it.
class FileSender final : public Protocol {
public:
    explicit FileSender(int fd) : fd_(fd) {}
    void data_received(Transport& t, std::string_view data) override {
        std::string text(data);
        unsigned long long offset = 0, length = 0;
        std::sscanf(text.c_str(), "%llu %llu", &offset, &length);
        t.send("[");
        t.sendfile(fd_, offset, length);
        t.send("]");
    }

private:
    int fd_;
};

TEST(Server, SendfileSendsTheExactFileRangeBetweenOtherBytes) {
    char path[] = "/tmp/px_sendfile_XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    std::string content;
    for (int i = 0; i < 300000; ++i)
        content += static_cast<char>('a' + (i * 7 + i / 26) % 26);
    ASSERT_EQ(::write(fd, content.data(), content.size()), ssize_t(content.size()));
    {
        RunningServer server(options(), [fd] { return std::make_unique<FileSender>(fd); });
        Client c(server.port());
        ASSERT_TRUE(c.send("1000 250000"));
        EXPECT_EQ(c.read(250002), "[" + content.substr(1000, 250000) + "]");
        ASSERT_TRUE(c.send("7 3"));
        EXPECT_EQ(c.read(5), "[" + content.substr(7, 3) + "]");
    }
    ::close(fd);
    ::unlink(path);
}

// Reports the heap's bytes at the start of each callback, then allocates and sends a lot.
class HeapProbe final : public Protocol {
public:
    void data_received(Transport& t, std::string_view) override {
        px::Heap& heap = *t.context().heap;
        px::HeapStats at_entry = heap.stats();
        for (int i = 0; i < 64; ++i)
            static_cast<char*>(heap.alloc(1000))[0] = 1;
        std::string report = std::to_string(at_entry.bytes_held) + " " +
                             std::to_string(heap.stats().bytes_held) + " " +
                             std::to_string(at_entry.depth) + "\n";
        t.send(std::string(100000, 'x')); // copied into the heap too
        t.send(report);
    }
};

TEST(Server, HeapIsRewoundToTheSnapshotAfterEachSend) {
    RunningServer server(options(), [] { return std::make_unique<HeapProbe>(); });
    Client c(server.port());
    std::string first_entry;
    for (int round = 0; round < 4; ++round) {
        ASSERT_TRUE(c.send("go"));
        std::string bulk = c.read(100000);
        ASSERT_EQ(bulk.size(), 100000u);
        std::string report;
        while (report.empty() || report.back() != '\n') {
            std::string byte = c.read(1);
            ASSERT_EQ(byte.size(), 1u);
            report += byte;
        }
        unsigned long long entry = 0, after = 0, depth = 0;
        ASSERT_EQ(std::sscanf(report.c_str(), "%llu %llu %llu", &entry, &after, &depth), 3);
        EXPECT_GE(after, entry + 64000) << "the allocations count";
        EXPECT_EQ(depth, 1u) << "exactly one snapshot open during a callback";
        if (round == 0) {
            first_entry = std::to_string(entry);
        } else {
            EXPECT_EQ(std::to_string(entry), first_entry) << "round " << round;
        }
    }
}

// Keeps the last message it got in the session heap: "get" answers it, anything else
// replaces it (the old copy freed there). Reports where the session heap came from.
struct SessionEvents {
    std::atomic<int> lost{0};
    std::atomic<int> sessions_at_loss{0}; // connections whose session heap held a message
};

class SessionKeeper final : public Protocol {
public:
    explicit SessionKeeper(SessionEvents& events) : events_(events) {}
    void data_received(Transport& t, std::string_view data) override {
        if (data == "get") {
            t.send(kept_ == nullptr ? std::string_view("(none)") : std::string_view(kept_, size_));
            return;
        }
        if (data == "where") {
            px::Heap& session = t.session_heap();
            bool ok = t.context().session == &session && &session != t.context().heap &&
                      (kept_ == nullptr || px::owner(kept_) == px::Owner::session);
            t.send(ok ? "session" : "wrong");
            return;
        }
        px::Heap& session = t.session_heap();
        session.free(kept_);
        kept_ = static_cast<char*>(session.alloc(data.size()));
        ASSERT_NE(kept_, nullptr);
        std::memcpy(kept_, data.data(), data.size());
        size_ = data.size();
        char held[16];
        std::snprintf(held, sizeof held, "%08zu", session.stats().bytes_held);
        t.send(held);
    }
    void connection_lost(Transport& t, std::error_code) override {
        if (kept_ != nullptr && t.context().session != nullptr)
            events_.sessions_at_loss.fetch_add(1);
        events_.lost.fetch_add(1);
    }

private:
    SessionEvents& events_;
    char* kept_ = nullptr;
    std::size_t size_ = 0;
};

TEST(Server, SessionHeapKeepsStateAcrossRewindsPerConnectionAndReusesFreedBlocks) {
    SessionEvents events;
    RunningServer server(options(), [&events] { return std::make_unique<SessionKeeper>(events); });
    Client a(server.port());
    Client b(server.port());
    ASSERT_TRUE(a.send("where"));
    EXPECT_EQ(a.read(7), "session");
    ASSERT_TRUE(a.send("first message"));
    std::string held = a.read(8);
    ASSERT_TRUE(b.send("get"));
    EXPECT_EQ(b.read(6), "(none)") << "another connection has its own session";
    for (int i = 0; i < 1000; ++i) { // the same size each time: the freed block is reused
        ASSERT_TRUE(a.send("other message"));
        EXPECT_EQ(a.read(held.size()), held) << "round " << i;
    }
    ASSERT_TRUE(a.send("get"));
    EXPECT_EQ(a.read(13), "other message") << "kept across 1000 rewinds";
    a.close();
    b.close();
    for (int i = 0; i < 500 && events.lost.load() < 2; ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(events.lost.load(), 2);
    EXPECT_EQ(events.sessions_at_loss.load(), 1) << "the session heap lives until connection_lost";
}

// Blocks in data_received until released: a slow callback.
struct Gate {
    std::promise<void> entered;
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
};

class Slow final : public Protocol {
public:
    explicit Slow(Gate& gate) : gate_(gate) {}
    void data_received(Transport& t, std::string_view data) override {
        if (data == "slow") {
            gate_.entered.set_value();
            gate_.released.wait();
        }
        t.send(data);
    }

private:
    Gate& gate_;
};

TEST(Server, SlowCallbackDoesNotDelayAConnectionOnAnotherWorker) {
    Gate gate;
    RunningServer server(options(2), [&gate] { return std::make_unique<Slow>(gate); });
    Client slow(server.port());
    ASSERT_TRUE(slow.send("slow"));
    ASSERT_EQ(gate.entered.get_future().wait_for(5s), std::future_status::ready);
    // The other worker is free: the next connection is served at once.
    Client fast(server.port(), 3000ms);
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(fast.send("fast"));
    EXPECT_EQ(fast.read(4), "fast");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
    gate.release.set_value();
    EXPECT_EQ(slow.read(4), "slow");
}

TEST(Server, StopLetsARunningCallbackFinishAndSendsItsOutput) {
    Gate gate;
    RunningServer server(options(2), [&gate] { return std::make_unique<Slow>(gate); });
    Client c(server.port());
    ASSERT_TRUE(c.send("slow"));
    ASSERT_EQ(gate.entered.get_future().wait_for(5s), std::future_status::ready);
    std::thread stopper([&] { server.stop(); });
    gate.release.set_value();
    EXPECT_EQ(c.read(4), "slow");
    EXPECT_TRUE(c.at_eof());
    stopper.join();
}

TEST(Server, StopClosesIdleConnectionsAndRunReturns) {
    EchoEvents events;
    auto server = std::make_unique<RunningServer>(options(2), echo_factory(events));
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 6; ++i) {
        clients.push_back(std::make_unique<Client>(server->port()));
        EXPECT_EQ(clients.back()->read(7), "hello\r\n");
    }
    auto t0 = std::chrono::steady_clock::now();
    server->stop();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    for (auto& c : clients)
        EXPECT_TRUE(c->at_eof());
    EXPECT_EQ(events.lost.load(), 6);
    EXPECT_EQ((*server)->stats().open, 0u);
    Client late(server->port(), 1000ms);
    EXPECT_FALSE(late.connected() && late.send("x") && late.read(7) == "hello\r\n");
}

// Queues a lot on any input.
class Flood final : public Protocol {
public:
    void data_received(Transport& t, std::string_view) override {
        t.send(std::string(32u << 20, 'f'));
    }
};

TEST(Server, PeerThatStopsReadingIsCutOffAfterTheSendTimeout) {
    ServerOptions o = options(2);
    o.send_timeout = 300ms;
    RunningServer server(o, [] { return std::make_unique<Flood>(); });
    Client c(server.port());
    int small = 4096;
    ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    ASSERT_TRUE(c.send("go"));
    ASSERT_TRUE(pxtest::eventually([&] { return server->stats().total == 1; }));
    EXPECT_TRUE(pxtest::eventually([&] { return server->stats().open == 0; }, 10000ms));
    EXPECT_EQ(server->stats().errors, 1u);
    EXPECT_LT(server->stats().bytes_sent, 32u << 20);
}

TEST(Server, StatsCountConnectionsBytesAndWorkers) {
    EchoEvents events;
    RunningServer server(options(2), echo_factory(events));
    {
        Client a(server.port());
        Client b(server.port());
        EXPECT_EQ(a.read(7), "hello\r\n");
        EXPECT_EQ(b.read(7), "hello\r\n");
        ASSERT_TRUE(a.send("12345"));
        EXPECT_EQ(a.read(15), "You said: 12345");
        auto s = server->stats();
        EXPECT_EQ(s.open, 2u);
        EXPECT_EQ(s.total, 2u);
        ASSERT_EQ(s.workers.size(), 2u);
        // Each connection is counted by the worker that opened it, whichever that was; the
        // open gauge is server-wide only.
        EXPECT_EQ(s.workers[0].total + s.workers[1].total, 2u);
        EXPECT_EQ(s.workers[0].open + s.workers[1].open, 0u);
        // The counter moves just after the bytes leave, so the client may be a little ahead.
        EXPECT_TRUE(pxtest::eventually(
            [&] { return server->stats().bytes_sent == a.received() + b.received(); }));
        EXPECT_EQ(a.received() + b.received(), 7u + 7u + 15u);
    }
    EXPECT_TRUE(pxtest::eventually([&] { return server->stats().open == 0; }));
    auto s = server->stats();
    EXPECT_EQ(s.total, 2u);
    EXPECT_EQ(s.errors, 0u);
    EXPECT_EQ(s.requests, 0u) << "only a protocol counts requests";
}

// ---- any free worker runs any connection's next callback --------------------------------

// Releases a Gate when the test ends, even when it fails early: a callback still waiting on
// it would keep the server's stop from finishing.
struct ReleaseAtExit {
    Gate& gate;
    ~ReleaseAtExit() {
        try {
            gate.release.set_value();
        } catch (const std::future_error&) { // released already
        }
    }
};

TEST(Server, SlowCallbackDelaysNoConnectionOpenedWhileItRuns) {
    Gate gate;
    ReleaseAtExit release{gate};
    RunningServer server(options(2), [&gate] { return std::make_unique<Slow>(gate); });
    Client slow(server.port());
    ASSERT_TRUE(slow.send("slow"));
    ASSERT_EQ(gate.entered.get_future().wait_for(5s), std::future_status::ready);
    // One worker is stuck; round-robin would have put every other one of these behind it.
    std::vector<std::unique_ptr<Client>> others;
    others.reserve(6);
    for (int i = 0; i < 6; ++i)
        others.push_back(std::make_unique<Client>(server.port(), 5000ms));
    for (int i = 0; i < 6; ++i) {
        std::string message = "fast " + std::to_string(i);
        auto t0 = std::chrono::steady_clock::now();
        ASSERT_TRUE(others[i]->send(message));
        EXPECT_EQ(others[i]->read(message.size()), message);
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 300ms) << "connection " << i;
    }
    gate.release.set_value();
    EXPECT_EQ(slow.read(4), "slow");
}

// Callbacks that "hold <ticket>" block their worker until the test releases the ticket.
class Holds {
public:
    ~Holds() { release_all(); }

    // In a callback: reports the worker, then waits (10 s at most) for the release.
    void hold(int ticket, unsigned worker) {
        std::unique_lock lock(mutex_);
        entered_[ticket] = worker;
        changed_.notify_all();
        changed_.wait_for(lock, 10s, [&] { return all_released_ || released_.count(ticket); });
    }
    // The worker holding `ticket`, once it does; 0 if none did within 10 s.
    unsigned held_by(int ticket) {
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, 10s, [&] { return entered_.count(ticket) != 0; });
        auto it = entered_.find(ticket);
        return it == entered_.end() ? 0 : it->second;
    }
    void release(int ticket) {
        std::lock_guard lock(mutex_);
        released_.insert(ticket);
        changed_.notify_all();
    }
    void release_all() {
        std::lock_guard lock(mutex_);
        all_released_ = true;
        changed_.notify_all();
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<int, unsigned> entered_;
    std::set<int> released_;
    bool all_released_ = false;
};

struct ProbeEvents {
    Holds holds;
    std::atomic<int> overlaps{0};     // a callback began while another was running
    std::atomic<int> wrong_worker{0}; // context().worker was not the running thread's id
    std::atomic<long> callbacks{0};   // summed over connections as they end
    std::atomic<long> hops{0};        // a callback ran on another worker than the one before
    std::atomic<int> lost{0};
};

// The id thread_start gave the thread running the caller (0: not a started worker thread).
thread_local unsigned t_worker_id = 0;

ServerOptions probe_options() {
    ServerOptions o = options(2);
    o.thread_start = [](unsigned id) { t_worker_id = id; };
    o.thread_stop = [](unsigned) { t_worker_id = 0; };
    return o;
}

// Plain (non-atomic) state that consecutive callbacks read and write, on whichever worker:
// a callback that overlapped the previous one, or did not see its writes, shows up in the
// counts, and TSan reports the race. Each input counts a request and is answered with
// "<callbacks> <bytes received> <worker>\n"; "hold <n>" first holds its worker. With
// `deadline`, every input also sets that deadline, and timed_out() is a callback too.
class Probe final : public Protocol {
public:
    Probe(ProbeEvents& events, std::chrono::milliseconds deadline)
        : events_(events), deadline_(deadline) {}
    void connection_made(Transport& t) override { Enter enter(*this, t); }
    void data_received(Transport& t, std::string_view data) override {
        Enter enter(*this, t);
        bytes_ += data.size();
        t.count_request();
        if (data.substr(0, 5) == "hold ")
            events_.holds.hold(std::atoi(std::string(data.substr(5)).c_str()), t_worker_id);
        t.send(std::to_string(callbacks_) + " " + std::to_string(bytes_) + " " +
               std::to_string(t_worker_id) + "\n");
        if (deadline_.count() > 0)
            t.set_deadline(deadline_);
    }
    void timed_out(Transport& t) override { Enter enter(*this, t); }
    void connection_lost(Transport& t, std::error_code) override {
        { Enter enter(*this, t); }
        events_.callbacks.fetch_add(callbacks_);
        events_.lost.fetch_add(1);
    }

private:
    struct Enter {
        Enter(Probe& p, Transport& t) : probe(p) {
            if (probe.running_)
                probe.events_.overlaps.fetch_add(1);
            if (t.context().worker != t_worker_id || t_worker_id == 0)
                probe.events_.wrong_worker.fetch_add(1);
            probe.running_ = true;
            ++probe.callbacks_;
            if (probe.last_worker_ != 0 && probe.last_worker_ != t_worker_id)
                probe.events_.hops.fetch_add(1);
            probe.last_worker_ = t_worker_id;
        }
        ~Enter() { probe.running_ = false; }
        Probe& probe;
    };

    ProbeEvents& events_;
    std::chrono::milliseconds deadline_;
    bool running_ = false;
    long callbacks_ = 0;
    std::size_t bytes_ = 0;
    unsigned last_worker_ = 0;
};

ProtocolFactory probe_factory(ProbeEvents& events, std::chrono::milliseconds deadline = 0ms) {
    return [&events, deadline] { return std::make_unique<Probe>(events, deadline); };
}

struct ProbeReply {
    long callbacks = 0;
    std::size_t bytes = 0;
    unsigned worker = 0;
};

std::optional<ProbeReply> probe_reply(Client& c) {
    auto line = c.line();
    ProbeReply r;
    if (!line || std::sscanf(line->c_str(), "%ld %zu %u", &r.callbacks, &r.bytes, &r.worker) != 3)
        return std::nullopt;
    return r;
}

// The connection's callbacks are made to alternate between the two workers: before each
// input, the worker its previous callback ran on is held by another connection's callback.
TEST(Server, ConsecutiveCallbacksOfAConnectionRunOnWhicheverWorkerIsFree) {
    ProbeEvents events;
    {
        RunningServer server(probe_options(), probe_factory(events));
        Client c(server.port());
        Client holders[2] = {Client(server.port()), Client(server.port())};
        int ticket = 0;
        ASSERT_TRUE(holders[0].send("hold 0"));
        unsigned held = events.holds.held_by(0);
        ASSERT_NE(held, 0u);
        unsigned previous = 0;
        for (int i = 1; i <= 10; ++i) {
            ASSERT_TRUE(c.send("x"));
            auto r = probe_reply(c);
            ASSERT_TRUE(r);
            EXPECT_EQ(r->callbacks, i + 1) << "connection_made, then one per input";
            EXPECT_EQ(r->bytes, std::size_t(i));
            EXPECT_NE(r->worker, held) << "input " << i;
            if (previous != 0) {
                EXPECT_NE(r->worker, previous) << "input " << i;
            }
            previous = r->worker;
            // Hold the worker that just ran it, then free the other one.
            Client& next = holders[(ticket + 1) % 2];
            ASSERT_TRUE(next.send("hold " + std::to_string(ticket + 1)));
            held = events.holds.held_by(ticket + 1);
            EXPECT_EQ(held, r->worker);
            events.holds.release(ticket);
            ASSERT_TRUE(probe_reply(holders[ticket % 2]));
            ++ticket;
        }
        events.holds.release(ticket);
        ASSERT_TRUE(probe_reply(holders[ticket % 2]));
    }
    EXPECT_EQ(events.overlaps.load(), 0);
    EXPECT_EQ(events.wrong_worker.load(), 0);
    EXPECT_EQ(events.lost.load(), 3);
    EXPECT_GE(events.hops.load(), 9) << "the ten inputs alternated";
}

// Many small inputs on several connections at once, each also arming a 1 ms deadline, so
// data and timer callbacks of one connection follow each other on both workers.
TEST(Server, CallbacksOfOneConnectionNeverOverlapAndSeeEachOthersWrites) {
    ProbeEvents events;
    constexpr int kConnections = 4;
    constexpr int kBursts = 150;
    std::atomic<int> broken{0};
    {
        RunningServer server(probe_options(), probe_factory(events, 1ms));
        std::vector<std::thread> clients;
        clients.reserve(kConnections);
        for (int k = 0; k < kConnections; ++k) {
            clients.emplace_back([&] {
                Client c(server.port());
                std::size_t sent = 0;
                long last_callbacks = 0;
                for (int burst = 0; burst < kBursts; ++burst) {
                    for (int m = 0; m < 1 + burst % 4; ++m) {
                        std::string bytes(1 + (burst + m) % 3, 'a');
                        if (!c.send(bytes)) {
                            broken.fetch_add(1);
                            return;
                        }
                        sent += bytes.size();
                    }
                    // Replies up to the one that has seen every byte sent so far.
                    for (;;) {
                        auto r = probe_reply(c);
                        if (!r || r->callbacks <= last_callbacks) {
                            broken.fetch_add(1);
                            return;
                        }
                        last_callbacks = r->callbacks;
                        if (r->bytes == sent)
                            break;
                    }
                }
            });
        }
        for (auto& t : clients)
            t.join();
        ASSERT_TRUE(pxtest::eventually([&] { return events.lost.load() == kConnections; }));
        auto s = server->stats();
        EXPECT_EQ(s.requests, s.workers[0].requests + s.workers[1].requests);
    }
    EXPECT_EQ(broken.load(), 0);
    EXPECT_EQ(events.overlaps.load(), 0);
    EXPECT_EQ(events.wrong_worker.load(), 0);
    EXPECT_GE(events.callbacks.load(), long(kConnections) * kBursts);
    // How often a connection's next callback ran on the other worker (scheduling decides).
    RecordProperty("hops", static_cast<int>(events.hops.load()));
}

TEST(Server, StatsPerWorkerSumToTheTotalAndEveryWorkerWorks) {
    ProbeEvents events;
    RunningServer server(probe_options(), probe_factory(events));
    int requests = 0;
    {
        // One worker counts the held request; meanwhile only the other can count.
        Client holder(server.port());
        ASSERT_TRUE(holder.send("hold 0"));
        ASSERT_NE(events.holds.held_by(0), 0u);
        Client c(server.port());
        for (int i = 0; i < 5; ++i) {
            ASSERT_TRUE(c.send("x"));
            ASSERT_TRUE(probe_reply(c));
        }
        events.holds.release(0);
        ASSERT_TRUE(probe_reply(holder));
        requests += 1 + 5;
    }
    // Then load on both.
    constexpr int kClients = 4;
    constexpr int kRounds = 100;
    std::atomic<int> answered{0};
    std::vector<std::thread> clients;
    clients.reserve(kClients);
    for (int k = 0; k < kClients; ++k) {
        clients.emplace_back([&] {
            Client c(server.port());
            for (int i = 0; i < kRounds; ++i)
                if (c.send("y") && probe_reply(c))
                    answered.fetch_add(1);
        });
    }
    for (auto& t : clients)
        t.join();
    EXPECT_EQ(answered.load(), kClients * kRounds);
    requests += kClients * kRounds;
    ASSERT_TRUE(pxtest::eventually([&] { return server->stats().open == 0; }));

    auto s = server->stats();
    ASSERT_EQ(s.workers.size(), 2u);
    EXPECT_EQ(s.requests, std::uint64_t(requests));
    EXPECT_EQ(s.total, std::uint64_t(2 + kClients));
    EXPECT_EQ(s.errors, 0u);
    px::runtime::ServerCounters sum;
    for (const auto& w : s.workers) {
        EXPECT_GT(w.requests, 0u) << "every worker served some";
        EXPECT_EQ(w.open, 0u) << "open is server-wide only";
        sum.total += w.total;
        sum.requests += w.requests;
        sum.bytes_sent += w.bytes_sent;
        sum.errors += w.errors;
    }
    EXPECT_EQ(sum.total, s.total);
    EXPECT_EQ(sum.requests, s.requests);
    EXPECT_EQ(sum.bytes_sent, s.bytes_sent);
    EXPECT_EQ(sum.errors, s.errors);
    EXPECT_EQ(events.overlaps.load(), 0);
    EXPECT_EQ(events.wrong_worker.load(), 0);
}

} // namespace
