// server.cpp — Server: the acceptor, the shared worker event loop and each connection's cycle.
//
// Threads. run()'s caller owns the acceptor and its io_context; the N worker threads all run
// one other io_context. Every accepted socket gets a strand of its own, and everything about
// its connection (the socket's completions, its timers, its posts) goes through that strand:
// a connection's handlers run one at a time, each after the previous one has returned (the
// strand's lock gives the happens-before), so its state, heap included, needs no locks of its
// own; but any free worker may run the next one. A slow callback therefore holds up its own
// connection and one worker thread, never the other connections while a worker is free, and
// never accepting, which runs on a thread of its own.
//
// A connection is always doing exactly one of: reading (an async_read_some is pending),
// running (a callback is on the stack), sending (flush() is writing, or an async_wait for
// writability is pending), lingering (output done, write side shut, discarding input until
// the peer closes or `linger` passes) or closed. Output is written with non-blocking
// sendmsg(2) and sendfile(2) calls, falling back to async_wait on EAGAIN, so partial sends
// resume where they stopped. The rewind happens when the queue is empty, before reading again.
//
// Counting. Each worker thread finds its own cache-line-aligned Counters through a
// thread_local, so workers[i] is the work worker i + 1 did, whichever connections it was for.
// Only the open gauge is server-wide (a connection may open on one worker and close on
// another), and the acceptor's errors go to a block of their own.
//
// Stopping. stop() posts "close the acceptor" to the acceptor's loop and "drain" to the
// workers' loop: the drain marks the server stopping (under the mutex that guards the set of
// open connections, so no connection joins the set after the drain has read it), drops the
// work guard, posts "drain" to every open connection's strand and arms a timer that cuts off
// whatever is still open after drain_timeout. A connection that waits for data closes; the
// others finish their cycle and close instead of reading again. The loop then runs out of
// work, every worker returns from it, and run() joins them and destroys the loop: a socket
// the acceptor posted after that is closed unserved, and no handler runs off a worker thread.
#include "px/runtime.h"

#include "signals.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_set>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

namespace px::runtime {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

// A connection's socket and timers are bound to its strand, so their completions (and the
// posts made with it) run there by default: nothing about a connection can bypass it.
using Strand = asio::strand<asio::io_context::executor_type>;
using Socket = tcp::socket::rebind_executor<Strand>::other;
using Timer = asio::steady_timer::rebind_executor<Strand>::other;

constexpr std::size_t kMaxIov = 16;                // byte segments per sendmsg(2)
constexpr std::uint64_t kSendfileChunk = 1u << 30; // bytes per sendfile(2) call at most
constexpr std::uint64_t kFlushQuantum = 4u << 20;  // bytes one flush writes before yielding

// One worker's counters, alone on its cache lines. Relaxed: they are statistics, and each
// is written by its worker only (so a sum read from another thread is merely a little old).
struct alignas(kCacheLine) Counters {
    std::atomic<std::uint64_t> total{0};
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> bytes_sent{0};
    std::atomic<std::uint64_t> errors{0};
};

void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) noexcept {
    counter.fetch_add(n, std::memory_order_relaxed);
}

std::uint64_t read(const std::atomic<std::uint64_t>& counter) noexcept {
    return counter.load(std::memory_order_relaxed);
}

std::error_code to_std(const error_code& ec) {
    return ec ? std::error_code(ec.value(), std::system_category()) : std::error_code();
}

} // namespace

class Connection;

struct ServerWorker {
    unsigned id = 0;
    Counters counters;
    std::thread thread;
};

namespace {

// The worker the calling thread is (set for the thread's whole life as a worker), or nullptr
// on any other thread. A thread is a worker of one server at most.
thread_local ServerWorker* this_worker = nullptr;

unsigned this_worker_id() noexcept { return this_worker != nullptr ? this_worker->id : 0; }

} // namespace

// What a server's connections share. Server::Impl adds the acceptor and the threads.
struct ServerState {
    ServerOptions options;
    ProtocolFactory factory;
    unsigned count = 0; // worker threads
    std::unique_ptr<ServerWorker[]> workers;
    Counters unattributed;              // counted on no worker thread: the acceptor's errors
    std::atomic<std::uint64_t> open{0}; // connections open now, server-wide
    // The loop every worker runs; destroyed at the end of run(), with whatever is still queued.
    std::unique_ptr<asio::io_context> io;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;

    // The connections open now and the drain timer, touched from every connection's strand:
    // guarded by connections_mutex. `stopping` is set under it too (so no connection joins
    // the set after the drain has read it) and read without it.
    std::mutex connections_mutex;
    std::unordered_set<std::shared_ptr<Connection>> connections;
    std::optional<asio::steady_timer> drain_timer;
    std::atomic<bool> stopping{false};

    // The counters of the worker running the caller: each worker writes only its own.
    Counters& counters() noexcept {
        return this_worker != nullptr ? this_worker->counters : unattributed;
    }
    void open_connection(Socket socket);
    void drain();
};

struct Server::Impl : ServerState {
    asio::io_context accept_io{1};
    tcp::acceptor acceptor{accept_io};
    asio::steady_timer accept_retry{accept_io};
    std::uint16_t port = 0;

    std::mutex mutex; // guards the three below
    std::condition_variable finished_cv;
    bool stop_requested = false;
    bool running = false;

    void accept();
};

class Connection final : public Transport, public std::enable_shared_from_this<Connection> {
public:
    Connection(ServerState& server, Socket socket)
        : server_(server), options_(server.options), strand_(socket.get_executor()),
          socket_(std::move(socket)), timer_(strand_), send_timer_(strand_), heap_(options_.heap),
          buffer_(new char[options_.read_buffer]) {
        context_ = px::Context{&heap_, 0, static_cast<Transport*>(this)};
    }
    ~Connection() override { release_segments(); }

    // Any thread: the strand every handler of this connection runs on.
    const Strand& strand() const noexcept { return strand_; }
    // The rest only on the strand.
    void start();
    void drain();   // the server is stopping: close as soon as no cycle is in progress
    void cut_off(); // the drain timeout passed: close now

    const Peer& peer() const noexcept override { return peer_; }
    px::Context& context() noexcept override { return context_; }
    px::Heap& session_heap() override {
        if (!session_)
            context_.session = &session_.emplace(options_.heap);
        return *session_;
    }
    bool send(std::string_view bytes) override;
    bool sendfile(int fd, std::uint64_t offset, std::uint64_t length) override;
    void close() override { close_requested_ = true; }
    void set_deadline(std::chrono::milliseconds after) override;
    void count_request() noexcept override { bump(server_.counters().requests); }
    void count_error() noexcept override { bump(server_.counters().errors); }

private:
    enum class State { reading, running, sending, lingering, closed };
    struct Segment {
        const char* data; // bytes in the context heap; nullptr for a file
        int fd;           // a dup()ed file, or -1
        std::uint64_t offset;
        std::uint64_t size;
    };

    template <class Callback> void run_callback(Callback&& callback);
    void flush();
    void wait_writable();
    void sent(); // the queue is empty: rewind, then read again or close
    void read();
    void on_read(const error_code& ec, std::size_t n);
    void arm_timer(std::chrono::milliseconds after);
    void on_timer();
    void linger();
    void finish(const error_code& ec);
    void fail(const error_code& ec);
    void release_segments() noexcept;

    ServerState& server_;
    const ServerOptions& options_;
    const Strand strand_;
    Socket socket_;
    Timer timer_;      // the protocol's deadline, then the linger time
    Timer send_timer_; // a send waiting for writability too long
    px::Heap heap_;
    px::Context context_{};
    std::optional<px::Heap> session_; // state that outlives callbacks, made on first use
    std::unique_ptr<char[]> buffer_;
    std::unique_ptr<Protocol> protocol_;
    Peer peer_;
    State state_ = State::running;
    px::Snapshot snapshot_{};
    std::vector<Segment> segments_;
    std::size_t next_segment_ = 0;
    std::optional<std::chrono::milliseconds> pending_deadline_; // armed at the next read()
    std::uint64_t timer_generation_ = 0; // a timer completion for an older arming is stale
    std::uint64_t send_waits_ = 0;       // the same for send_timer_
    bool deadline_passed_ = false;
    bool close_requested_ = false;
};

// ---- Connection -------------------------------------------------------------------------

void Connection::start() {
    server_.open.fetch_add(1, std::memory_order_relaxed);
    bump(server_.counters().total);
    error_code ec;
    tcp::endpoint remote = socket_.remote_endpoint(ec);
    if (!ec) {
        peer_.host = remote.address().to_string();
        peer_.port = remote.port();
    }
    socket_.non_blocking(true, ec);
    socket_.set_option(tcp::no_delay(true), ec);
    run_callback([this] {
        protocol_ = server_.factory();
        protocol_->connection_made(*this);
    });
}

// Runs one callback inside the context, between a snapshot and (once its output is sent)
// the rewind. An exception closes the connection: a protocol cannot be trusted after one.
template <class Callback> void Connection::run_callback(Callback&& callback) {
    state_ = State::running;
    snapshot_ = heap_.snapshot();
    context_.worker = this_worker_id();
    try {
        px::ContextScope scope(context_);
        callback();
    } catch (...) {
        count_error();
        close_requested_ = true;
    }
    if (!protocol_)
        close_requested_ = true;
    state_ = State::sending;
    flush();
}

bool Connection::send(std::string_view bytes) {
    if (bytes.empty())
        return true;
    void* copy = heap_.alloc(bytes.size());
    if (copy == nullptr) {
        count_error();
        close_requested_ = true;
        return false;
    }
    std::memcpy(copy, bytes.data(), bytes.size());
    segments_.push_back({static_cast<const char*>(copy), -1, 0, bytes.size()});
    return true;
}

bool Connection::sendfile(int fd, std::uint64_t offset, std::uint64_t length) {
    if (length == 0)
        return true;
    int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) {
        count_error();
        return false;
    }
    segments_.push_back({nullptr, copy, offset, length});
    return true;
}

void Connection::flush() {
    std::uint64_t written_now = 0;
    while (next_segment_ < segments_.size()) {
        if (state_ == State::closed)
            return;
        if (written_now >= kFlushQuantum) {
            // Let other connections have this worker between two slices of a long send: to the
            // back of the loop's queue, then on the strand. (asio::post(strand_, ...) would do
            // as well, but clang-analyzer reports a leak inside Asio's strand for it.)
            asio::post(*server_.io, asio::bind_executor(strand_, [self = shared_from_this()] {
                if (self->state_ == State::sending)
                    self->flush();
            }));
            return;
        }
        int sock = socket_.native_handle();
        Segment& s = segments_[next_segment_];
        ssize_t n;
        if (s.data != nullptr) {
            iovec iov[kMaxIov];
            std::size_t count = 0;
            for (std::size_t i = next_segment_;
                 i < segments_.size() && count < kMaxIov && segments_[i].data != nullptr; ++i)
                iov[count++] = {const_cast<char*>(segments_[i].data), segments_[i].size};
            msghdr msg{};
            msg.msg_iov = iov;
            msg.msg_iovlen = count;
            n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
        } else {
            off_t offset = static_cast<off_t>(s.offset);
            n = ::sendfile(sock, s.fd, &offset, std::min(s.size, kSendfileChunk));
            if (n == 0) { // the file ended before the range did
                fail(error_code(EIO, boost::system::system_category()));
                return;
            }
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                wait_writable();
                return;
            }
            fail(error_code(errno, boost::system::system_category()));
            return;
        }
        auto done = static_cast<std::uint64_t>(n);
        bump(server_.counters().bytes_sent, done);
        written_now += done;
        while (done > 0) {
            Segment& front = segments_[next_segment_];
            std::uint64_t take = std::min(done, front.size);
            front.size -= take;
            front.offset += take;
            if (front.data != nullptr)
                front.data += take;
            done -= take;
            if (front.size == 0) {
                if (front.fd >= 0)
                    ::close(std::exchange(front.fd, -1));
                ++next_segment_;
            }
        }
    }
    sent();
}

// The socket buffer is full: resume when it has room, unless the peer has not taken a byte
// for send_timeout (a client that stopped reading would otherwise hold the connection).
void Connection::wait_writable() {
    std::uint64_t wait = ++send_waits_;
    if (options_.send_timeout.count() > 0) {
        send_timer_.expires_after(options_.send_timeout);
        send_timer_.async_wait([self = shared_from_this(), wait](const error_code& ec) {
            if (!ec && wait == self->send_waits_ && self->state_ == State::sending)
                self->fail(asio::error::timed_out);
        });
    }
    socket_.async_wait(tcp::socket::wait_write, [self = shared_from_this()](const error_code& ec) {
        ++self->send_waits_;
        self->send_timer_.cancel();
        if (self->state_ != State::sending)
            return;
        if (ec)
            self->fail(ec);
        else
            self->flush();
    });
}

void Connection::sent() {
    release_segments();
    segments_.clear();
    next_segment_ = 0;
    (void)heap_.rewind(snapshot_); // ours, open and innermost: cannot be refused
    if (close_requested_ || server_.stopping.load())
        linger();
    else
        read();
}

void Connection::read() {
    state_ = State::reading;
    if (deadline_passed_) {
        deadline_passed_ = false;
        run_callback([this] { protocol_->timed_out(*this); });
        return;
    }
    if (pending_deadline_) {
        arm_timer(*pending_deadline_);
        pending_deadline_.reset();
    }
    socket_.async_read_some(
        asio::buffer(buffer_.get(), options_.read_buffer),
        [self = shared_from_this()](const error_code& ec, std::size_t n) { self->on_read(ec, n); });
}

void Connection::on_read(const error_code& ec, std::size_t n) {
    if (state_ == State::closed)
        return;
    if (state_ == State::lingering) {
        if (ec)
            finish({});
        else
            linger();
        return;
    }
    if (n > 0) {
        run_callback([this, n] { protocol_->data_received(*this, {buffer_.get(), n}); });
        return;
    }
    if (ec == asio::error::operation_aborted) {
        if (server_.stopping.load())
            finish({});
        else
            read(); // runs timed_out() if the deadline passed, else keeps reading
        return;
    }
    if (ec == asio::error::eof) {
        finish({});
        return;
    }
    fail(ec);
}

// A new deadline replaces the old one at once (even one that has passed but not yet been
// reported); it starts counting at the next read().
void Connection::set_deadline(std::chrono::milliseconds after) {
    deadline_passed_ = false;
    ++timer_generation_;
    timer_.cancel();
    pending_deadline_.reset();
    if (after.count() > 0)
        pending_deadline_ = after;
}

void Connection::arm_timer(std::chrono::milliseconds after) {
    std::uint64_t generation = ++timer_generation_;
    timer_.expires_after(after);
    timer_.async_wait([self = shared_from_this(), generation](const error_code& ec) {
        if (!ec && generation == self->timer_generation_)
            self->on_timer();
    });
}

void Connection::on_timer() {
    switch (state_) {
    case State::reading:
        // Cancel the read; its handler sees the flag and runs timed_out().
        deadline_passed_ = true;
        {
            error_code ignored;
            socket_.cancel(ignored);
        }
        break;
    case State::running:
    case State::sending:
        deadline_passed_ = true; // handled when the connection next waits for data
        break;
    case State::lingering:
        finish({});
        break;
    case State::closed:
        break;
    }
}

// Shuts the write side and discards input until the peer closes or the linger time passes:
// closing a socket with unread input makes the kernel send a reset, which can destroy a final
// response (a 413, say) before the peer has read it.
void Connection::linger() {
    if (state_ != State::lingering) {
        state_ = State::lingering;
        error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_send, ignored);
        arm_timer(options_.linger);
    }
    socket_.async_read_some(
        asio::buffer(buffer_.get(), options_.read_buffer),
        [self = shared_from_this()](const error_code& ec, std::size_t n) { self->on_read(ec, n); });
}

void Connection::drain() {
    if (state_ == State::reading) {
        error_code ignored;
        socket_.cancel(ignored); // on_read() sees the server stopping and closes
    }
}

void Connection::cut_off() { fail(asio::error::timed_out); }

void Connection::fail(const error_code& ec) {
    if (state_ == State::closed)
        return;
    count_error();
    finish(ec);
}

void Connection::finish(const error_code& ec) {
    if (state_ == State::closed)
        return;
    state_ = State::closed;
    error_code ignored;
    ++timer_generation_;
    timer_.cancel();
    ++send_waits_;
    send_timer_.cancel();
    socket_.close(ignored);
    release_segments();
    if (protocol_) {
        px::Snapshot s = heap_.snapshot();
        context_.worker = this_worker_id();
        try {
            px::ContextScope scope(context_);
            protocol_->connection_lost(*this, to_std(ec));
            protocol_.reset();
        } catch (...) {
            count_error();
        }
        (void)heap_.rewind(s);
    }
    protocol_.reset();
    context_.session = nullptr;
    session_.reset(); // after the protocol, which may keep its instance there
    server_.open.fetch_sub(1, std::memory_order_relaxed);
    auto self = shared_from_this(); // keeps this alive past the erase
    std::lock_guard lock(server_.connections_mutex);
    server_.connections.erase(self);
    if (server_.stopping.load() && server_.connections.empty() && server_.drain_timer)
        server_.drain_timer->cancel();
}

void Connection::release_segments() noexcept {
    for (std::size_t i = next_segment_; i < segments_.size(); ++i)
        if (segments_[i].fd >= 0)
            ::close(std::exchange(segments_[i].fd, -1));
}

// ---- Server -----------------------------------------------------------------------------

// On the new connection's strand, on a worker. The socket closes unserved if the server is
// stopping (or, defensively, if this is not a worker thread: no callback may run there).
void ServerState::open_connection(Socket socket) {
    if (this_worker == nullptr || stopping.load())
        return;
    auto connection = std::make_shared<Connection>(*this, std::move(socket));
    {
        std::lock_guard lock(connections_mutex);
        if (stopping.load())
            return;
        connections.insert(connection);
    }
    connection->start();
}

// On a worker, once. Each connection drains on its own strand.
void ServerState::drain() {
    guard.reset();
    std::vector<std::shared_ptr<Connection>> open_now;
    {
        std::lock_guard lock(connections_mutex);
        stopping.store(true);
        open_now.assign(connections.begin(), connections.end());
        if (!connections.empty()) {
            drain_timer.emplace(*io);
            drain_timer->expires_after(options.drain_timeout);
            drain_timer->async_wait([this](const error_code& ec) {
                if (ec)
                    return;
                std::vector<std::shared_ptr<Connection>> left;
                {
                    std::lock_guard timer_lock(connections_mutex);
                    left.assign(connections.begin(), connections.end());
                }
                for (auto& c : left)
                    asio::post(c->strand(), [c] { c->cut_off(); });
            });
        }
    }
    for (auto& c : open_now)
        asio::post(c->strand(), [c] { c->drain(); });
}

void Server::Impl::accept() {
    // The socket is bound to a new strand of the workers' loop: the connection's strand.
    acceptor.async_accept(asio::make_strand(*io), [this](const error_code& ec, Socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open())
            return;
        if (ec) {
            // Out of descriptors or memory, or a connection reset before it was accepted:
            // try again a little later rather than spinning.
            bump(unattributed.errors);
            accept_retry.expires_after(std::chrono::milliseconds(10));
            accept_retry.async_wait([this](const error_code& timer_ec) {
                if (!timer_ec && acceptor.is_open())
                    accept();
            });
            return;
        }
        Strand strand = socket.get_executor();
        asio::post(strand, [this, socket = std::move(socket)]() mutable {
            open_connection(std::move(socket));
        });
        accept();
    });
}

Server::Server(ServerOptions options, ProtocolFactory factory) : impl_(std::make_unique<Impl>()) {
    Impl& s = *impl_;
    s.options = std::move(options);
    s.factory = std::move(factory);
    if (!s.factory)
        throw std::invalid_argument("px::runtime::Server: no protocol factory");
    if (s.options.read_buffer == 0)
        s.options.read_buffer = 16u << 10;
    s.count = s.options.workers != 0 ? s.options.workers : cpu_count();
    s.workers.reset(new ServerWorker[s.count]);
    for (unsigned i = 0; i < s.count; ++i)
        s.workers[i].id = i + 1;
    s.io = std::make_unique<asio::io_context>(static_cast<int>(s.count)); // hint: N threads

    // Asio's own errors carry boost::system codes; the contract promises std::system_error.
    error_code ec;
    auto check = [&ec](const char* what) {
        if (ec)
            throw std::system_error(ec.value(), std::system_category(),
                                    std::string("px::runtime::Server: ") + what);
    };
    asio::ip::address address = asio::ip::make_address(s.options.host, ec);
    check("bad host address");
    tcp::endpoint endpoint(address, s.options.port);
    s.acceptor.open(endpoint.protocol(), ec);
    check("socket");
    s.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    check("SO_REUSEADDR");
    s.acceptor.bind(endpoint, ec);
    check("bind");
    s.acceptor.listen(s.options.backlog, ec);
    check("listen");
    s.port = s.acceptor.local_endpoint(ec).port();
    check("getsockname");
}

Server::~Server() {
    stop();
    std::unique_lock lock(impl_->mutex);
    impl_->finished_cv.wait(lock, [&] { return !impl_->running; });
}

std::uint16_t Server::port() const noexcept { return impl_->port; }

unsigned Server::workers() const noexcept { return impl_->count; }

void Server::run() {
    Impl& s = *impl_;
    {
        std::lock_guard lock(s.mutex);
        if (s.stop_requested || s.running)
            return;
        s.running = true;
        s.guard.emplace(s.io->get_executor()); // released by the drain
    }
    try {
        BlockSignals blocked;
        for (unsigned i = 0; i < s.count; ++i) {
            ServerWorker& w = s.workers[i];
            w.thread = std::thread([&s, &w] {
                this_worker = &w;
                if (s.options.thread_start)
                    s.options.thread_start(w.id);
                for (;;) {
                    try {
                        s.io->run();
                        break;
                    } catch (...) {
                        bump(w.counters.errors); // a handler threw; keep serving
                    }
                }
                if (s.options.thread_stop)
                    s.options.thread_stop(w.id);
                this_worker = nullptr;
            });
        }
    } catch (...) {
        stop(); // a thread could not start: the ones that did drain and end
    }
    s.accept();
    for (;;) {
        try {
            s.accept_io.run();
            break;
        } catch (...) {
            bump(s.unattributed.errors);
        }
    }
    for (unsigned i = 0; i < s.count; ++i)
        if (s.workers[i].thread.joinable())
            s.workers[i].thread.join();
    {
        // Under the mutex: stop() may still be inside its post to the loop.
        std::lock_guard lock(s.mutex);
        // Normally empty already. What is still queued (a socket the acceptor posted after
        // the loop ran out of work) is destroyed with the loop, not run: its socket closes.
        s.connections.clear();
        s.drain_timer.reset();
        s.guard.reset();
        s.io.reset();
        s.running = false;
    }
    s.finished_cv.notify_all();
}

void Server::stop() noexcept {
    Impl& s = *impl_;
    std::lock_guard lock(s.mutex);
    if (s.stop_requested)
        return;
    s.stop_requested = true;
    if (!s.running)
        return;
    try {
        asio::post(s.accept_io, [&s] {
            error_code ignored;
            s.acceptor.close(ignored);
            s.accept_retry.cancel();
        });
        asio::post(*s.io, [&s] { s.drain(); });
    } catch (...) {
        // Out of memory while posting: nothing better to do than leave the server running.
    }
}

ServerStats Server::stats() const {
    const Impl& s = *impl_;
    ServerStats total;
    total.open = s.open.load(std::memory_order_relaxed);
    total.errors = read(s.unattributed.errors);
    total.workers.resize(s.count);
    for (unsigned i = 0; i < s.count; ++i) {
        const Counters& c = s.workers[i].counters;
        ServerCounters& w = total.workers[i];
        w.total = read(c.total);
        w.requests = read(c.requests);
        w.bytes_sent = read(c.bytes_sent);
        w.errors = read(c.errors);
        total.total += w.total;
        total.requests += w.requests;
        total.bytes_sent += w.bytes_sent;
        total.errors += w.errors;
    }
    return total;
}

} // namespace px::runtime
