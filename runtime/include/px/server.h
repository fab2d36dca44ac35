// px/server.h — the socket server and its HTTP/1.1 layer (included by px/runtime.h).
//
// The contract of px_runtime's server (no Python in here; C++ protocols and handlers):
//   * A Server binds and listens in its constructor (SO_REUSEADDR; port 0 picks a free port,
//     port() tells which). run() serves on the calling thread until stop(): that thread
//     accepts, and N worker threads (default cpu_count()) run one shared event loop.
//   * A connection belongs to no worker. Its callbacks are strictly serialised: never two
//     at once, each beginning after the previous one has returned and seeing everything it
//     wrote (happens-before), so its state and heap need no locks. But each one runs on
//     whichever worker thread is free when it is due, not necessarily the previous one's.
//   * Every connection owns a px::Context with a heap of its own and one Protocol instance
//     (made by the factory on a worker, inside the context). The context's `worker` is the id
//     (1..N) of the worker thread running the current callback. The cycle is:
//         read → snapshot → callback (inside the context) → send → rewind → read again.
//     Whatever a callback allocates in the context heap, and every byte it queued with
//     Transport::send() (copied into that heap), is released by the rewind after the last
//     queued byte has gone out. No callback runs while the previous cycle's output is still
//     being sent, and nothing is read meanwhile. State that must outlive the cycle goes to
//     the connection's session heap (Transport::session_heap()), which lives as long as
//     the connection.
//   * A slow callback holds up its own connection and the worker thread running it, nothing
//     else: another connection's callback waits only while every worker is busy, and
//     accepting never waits for a callback.
//   * stop() may be called from any thread (not from a signal handler), any number of times,
//     before or during run(). It stops accepting, lets callbacks in progress finish and
//     their output go out, closes every socket, joins the workers; then run() returns.
//     Connections still sending after ServerOptions::drain_timeout are cut off. At any time,
//     a connection whose peer takes no output byte for send_timeout is cut off. A Server
//     runs once: run() after stop() returns at once.
//   * Worker threads block asynchronous signals (as the pool's do): SIGINT and SIGTERM reach
//     the thread that watches for them, and a SIGPIPE from sendfile(2) stays pending instead
//     of killing the process.
//   * stats() may be called from any thread at any time; the counters are relaxed atomics,
//     one cache-line-aligned block per worker, written by that worker for the work it did
//     (whichever connections it was for), summed on read. The open gauge is server-wide.
//
// The HTTP/1.1 layer (http_protocol()) parses with Boost.Beast's request_parser and calls an
// HttpHandler once per request, in order; responses go out in request order (keep-alive and
// pipelining). Over a limit it answers with the status and closes: header block too large or
// too many header fields 431, target too long 414, body too large 413, anything Beast rejects
// 400, a request not complete within request_timeout 408. A keep-alive connection with no
// request for idle_timeout is closed without a response. A handler that throws gets 500.
// Several ranges in one Range header are answered 416 (no multipart/byteranges).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "px/guards.h"
#include "px/heap.h"

namespace px::runtime {

// ---- connections ------------------------------------------------------------------------

struct Peer {
    std::string host; // numeric address
    std::uint16_t port = 0;
};

// What a protocol callback sees of its connection. Call it only from that connection's
// callbacks (on whichever worker runs them); the output queued during a callback goes out
// after it returns.
class Transport {
public:
    virtual ~Transport() = default;

    virtual const Peer& peer() const noexcept = 0;
    virtual px::Context& context() noexcept = 0; // the connection's context (entered now)
    // The connection's session heap, for state that outlives callbacks: made on first use
    // with the connection's heap options, never snapshotted or rewound, destroyed after
    // connection_lost() returns. Once made it is context().session as well.
    virtual px::Heap& session_heap() = 0;

    // Queues bytes (copied into the context heap). False, queuing nothing, when the heap
    // refuses the memory: the connection is then closed after what was queued before.
    virtual bool send(std::string_view bytes) = 0;
    // Queues `length` bytes of the file `fd` from `offset`, sent with sendfile(2). The fd is
    // dup()ed, so the caller may close its own at once. False when dup() fails.
    virtual bool sendfile(int fd, std::uint64_t offset, std::uint64_t length) = 0;
    // Closes the connection once everything queued has been sent; no callback but
    // connection_lost() follows.
    virtual void close() = 0;
    // Protocol::timed_out() runs if `after` passes before the deadline is set again. The
    // clock starts when the connection next waits for data (not while it is still sending).
    // Zero removes the deadline.
    virtual void set_deadline(std::chrono::milliseconds after) = 0;

    // Counters the protocol feeds into Server::stats().
    virtual void count_request() noexcept = 0;
    virtual void count_error() noexcept = 0;
};

// One instance per connection, made and called inside the connection's context.
class Protocol {
public:
    virtual ~Protocol() = default;
    virtual void connection_made(Transport& /*transport*/) {}
    virtual void data_received(Transport& transport, std::string_view data) = 0;
    // The deadline passed; the default closes the connection.
    virtual void timed_out(Transport& transport) { transport.close(); }
    // The last callback. ec is empty after close() or a clean end of stream from the peer.
    virtual void connection_lost(Transport& /*transport*/, std::error_code /*ec*/) {}
};

using ProtocolFactory = std::function<std::unique_ptr<Protocol>()>;

// ---- the server -------------------------------------------------------------------------

struct ServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0; // 0: any free port
    unsigned workers = 0;   // 0: cpu_count()
    int backlog = 1024;
    std::size_t read_buffer = 16u << 10;           // bytes read per callback at most
    px::HeapOptions heap{};                        // options of every connection's heap
    std::chrono::milliseconds drain_timeout{3000}; // stop(): then cut off what still sends
    std::chrono::milliseconds linger{1000};        // after close(): read and discard this long
    std::chrono::milliseconds send_timeout{30000}; // no byte taken by the peer: cut off (0: never)
    // On each worker thread (id 1..N), once before it serves and once after its last
    // callback: where an embedder sets up and tears down per-thread state (a thread state).
    // Every callback, the factory's included, runs on a thread between the two.
    std::function<void(unsigned)> thread_start;
    std::function<void(unsigned)> thread_stop;
};

struct ServerCounters {
    std::uint64_t open = 0;       // connections open now (in the total only; 0 per worker)
    std::uint64_t total = 0;      // connections accepted, ever
    std::uint64_t requests = 0;   // Transport::count_request() calls
    std::uint64_t bytes_sent = 0; // bytes written to sockets
    std::uint64_t errors = 0;     // I/O errors, refused memory, Transport::count_error()
};

// The totals, and per worker what that worker did. A connection is counted in `total` by
// the worker that opened it; the total's `errors` also counts the acceptor's, which belong
// to no worker.
struct ServerStats : ServerCounters {
    std::vector<ServerCounters> workers; // [i] is worker i + 1 (its `open` is 0)
};

class Server {
public:
    // Binds and listens; throws std::system_error when it cannot.
    Server(ServerOptions options, ProtocolFactory factory);
    ~Server(); // stop() and waits for run() to return (if it is running)
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    std::uint16_t port() const noexcept;
    unsigned workers() const noexcept;

    void run();           // serves until stop(); see the contract above
    void stop() noexcept; // any thread; idempotent
    ServerStats stats() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// ---- HTTP/1.1 ---------------------------------------------------------------------------

struct HttpLimits {
    std::size_t max_header_bytes = 8u << 10;          // request line and header block
    std::size_t max_headers = 100;                    // header fields
    std::size_t max_target = 2048;                    // request target (path and query)
    std::size_t max_body = 1u << 20;                  // body bytes (Content-Length or chunked)
    std::chrono::milliseconds idle_timeout{5000};     // keep-alive wait for a request
    std::chrono::milliseconds request_timeout{10000}; // first byte to complete request
};

struct HttpHeader {
    std::string name;
    std::string value;
};

struct HttpRequest {
    std::string method;    // as sent: "GET", "POST", ...
    std::string target;    // as sent: "/a/b?x=1"
    std::string path;      // target before '?': "/a/b"
    std::string query;     // after '?', without it: "x=1"
    unsigned version = 11; // 10 or 11
    std::vector<HttpHeader> headers;
    std::string body;

    // The first field of that name (case-insensitive), or nullptr.
    const std::string* header(std::string_view name) const noexcept;
};

// An owned file descriptor.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept;
    ~UniqueFd();
    int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }

private:
    int fd_ = -1;
};

struct FileBody {
    UniqueFd fd;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
};

struct HttpResponse {
    unsigned status = 200;
    std::vector<HttpHeader> headers; // Content-Length and Connection are set by the layer
    std::string body;                // ignored when file is set
    std::optional<FileBody> file;    // sent with sendfile(2)

    static HttpResponse text(unsigned status, std::string body); // text/plain; charset=utf-8
    HttpResponse& set(std::string name, std::string value);
};

// Runs on a worker thread inside the connection's context, once per request.
using HttpHandler = std::function<HttpResponse(const HttpRequest&, Transport&)>;

// A Protocol per connection that parses requests and answers them through `handler`.
ProtocolFactory http_protocol(HttpHandler handler, HttpLimits limits = {});

// A Range header against a representation of `length` bytes (RFC 9110 §14).
struct RangeRequest {
    enum Kind {
        none,          // no usable "bytes=" header (absent, other unit, bad syntax): send all
        single,        // one satisfiable range: 206 for [first, first + length)
        unsatisfiable, // 416 with Content-Range: bytes */length
        multiple,      // more than one range: answered 416 (no multipart support)
    };
    Kind kind = none;
    std::uint64_t first = 0;
    std::uint64_t length = 0;
};
RangeRequest parse_range(std::string_view header, std::uint64_t length) noexcept;

// A slice of a file, [offset, offset + count): the response's whole body, within which a
// Range applies. The default is the whole file.
struct FileSlice {
    std::uint64_t offset = 0;
    std::optional<std::uint64_t> count; // nullopt: to the end of the file
};

// The file at `path` (or that slice of it), honouring the request's Range header within it:
// 200, 206, 416, or 404 when it is not a readable regular file or the slice lies past its end.
HttpResponse file_response(const HttpRequest& request, const std::string& path,
                           std::string_view content_type = "application/octet-stream",
                           FileSlice slice = {});

} // namespace px::runtime
