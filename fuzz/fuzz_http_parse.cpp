// fuzz_http_parse.cpp — arbitrary bytes through px_runtime's HTTP protocol, in memory.
//
// The protocol made by px::runtime::http_protocol() is driven the way a server connection
// drives it (connection_made, then data_received per chunk inside the context between a
// snapshot and a rewind, then timed_out at the end), against a Transport that records what
// is queued. sendfile() reads the file range into the record, so file responses are checked
// byte for byte like any other.
//
// Input: byte 0 picks the limits (bit 0: small ones) and byte 1 the chunk size (1..255; 0
// feeds everything at once); the rest is the byte stream a client sent.
//
// Checks:
//   * The output is a sequence of well-formed HTTP/1.1 responses (Boost.Beast's response
//     parser; HEAD responses without a body), whose statuses come from the allowed set.
//   * One response per request the handler saw, in order (each carries the request's number),
//     plus at most one refusal (400, 408, 413, 414, 431), which is the last response and is
//     followed by close(). "100 Continue" interim responses may come before any of them and
//     are not counted. A handler that throws (/throw) is answered 500 in its place.
//     Transport::count_request() matches the handler's calls.
//   * Nothing is queued after close(); at the end (after timed_out) the connection is closed.
//   * Every cycle's rewind succeeds and returns the heap to zero bytes in use.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "px/runtime.h"

namespace {

namespace http = boost::beast::http;
using px::runtime::HttpRequest;
using px::runtime::HttpResponse;
using px::runtime::Transport;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_http_parse: %s\n", what);
    std::abort();
}

void check(bool ok, const char* what) {
    if (!ok)
        fail(what);
}

const std::set<unsigned> kAllowed = {200, 206, 400, 404, 408, 413, 414, 416, 431, 500};
const std::set<unsigned> kRefusals = {400, 408, 413, 414, 431};

// A 4000-byte file the handler serves at /file, as memfd so nothing touches the disk.
const std::string& file_path() {
    static const std::string path = [] {
        int fd = ::memfd_create("fuzz_http_parse", 0);
        check(fd >= 0, "memfd_create failed");
        std::string content(4000, '\0');
        for (std::size_t i = 0; i < content.size(); ++i)
            content[i] = static_cast<char>('A' + i % 23);
        check(::write(fd, content.data(), content.size()) == ssize_t(content.size()),
              "write to memfd failed");
        return "/proc/self/fd/" + std::to_string(fd);
    }();
    return path;
}

class MemoryTransport final : public Transport {
public:
    MemoryTransport() { context_ = px::Context{&heap_, 1, this}; }

    const px::runtime::Peer& peer() const noexcept override { return peer_; }
    px::Context& context() noexcept override { return context_; }
    px::Heap& session_heap() override {
        context_.session = &session_;
        return session_;
    }
    bool send(std::string_view bytes) override {
        check(!closed, "send() after close()");
        out.append(bytes);
        return true;
    }
    bool sendfile(int fd, std::uint64_t offset, std::uint64_t length) override {
        check(!closed, "sendfile() after close()");
        std::string bytes(length, '\0');
        check(::pread(fd, bytes.data(), length, static_cast<off_t>(offset)) == ssize_t(length),
              "sendfile() range past the end of the file");
        out += bytes;
        return true;
    }
    void close() override { closed = true; }
    void set_deadline(std::chrono::milliseconds) override {}
    void count_request() noexcept override { ++requests; }
    void count_error() noexcept override {}

    px::Heap& heap() { return heap_; }

    std::string out;
    bool closed = false;
    unsigned requests = 0;

private:
    px::runtime::Peer peer_{"127.0.0.1", 1};
    px::Heap heap_;
    px::Heap session_;
    px::Context context_{};
};

struct Seen {
    std::vector<bool> head; // per handler call: was it HEAD
};

HttpResponse handle(const HttpRequest& r, Seen& seen) {
    std::size_t n = seen.head.size();
    seen.head.push_back(r.method == "HEAD");
    HttpResponse response;
    if (r.path == "/file")
        response = px::runtime::file_response(r, file_path());
    else if (r.path == "/throw")
        throw std::runtime_error("handler failed");
    else if (r.path == "/missing")
        response = HttpResponse::text(404, "missing");
    else
        response = HttpResponse::text(200, r.method + " " + r.target + " " + r.body);
    response.set("X-Request", std::to_string(n));
    return response;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2)
        return 0;
    px::runtime::HttpLimits limits;
    if (data[0] & 1) {
        limits.max_header_bytes = 256;
        limits.max_headers = 4;
        limits.max_target = 32;
        limits.max_body = 64;
    }
    std::size_t chunk = data[1] == 0 ? size : data[1];
    std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);

    Seen seen;
    auto factory = px::runtime::http_protocol(
        [&seen](const HttpRequest& r, Transport&) { return handle(r, seen); }, limits);
    MemoryTransport t;
    std::unique_ptr<px::runtime::Protocol> protocol;

    // One cycle as the server runs it: inside the context, between a snapshot and a rewind.
    auto cycle = [&](auto&& callback) {
        px::Snapshot s = t.heap().snapshot();
        {
            px::ContextScope scope(t.context());
            callback();
        }
        check(t.heap().rewind(s) == px::RewindStatus::ok, "rewind refused");
        check(t.heap().stats().bytes_in_use == 0, "heap not back at its snapshot");
    };
    cycle([&] {
        protocol = factory();
        protocol->connection_made(t);
    });
    for (std::size_t pos = 0; pos < stream.size() && !t.closed; pos += chunk)
        cycle([&] { protocol->data_received(t, stream.substr(pos, chunk)); });
    bool closed_by_data = t.closed;
    if (!t.closed)
        cycle([&] { protocol->timed_out(t); });
    check(t.closed, "still open after timed_out()");
    cycle([&] { protocol.reset(); });

    // Walk the responses.
    std::size_t pos = 0, responses = 0;
    bool refused = false, last_closes = false;
    while (pos < t.out.size()) {
        check(!refused, "a response after a refusal");
        http::response_parser<http::string_body> parser;
        parser.body_limit(1u << 20);
        if (responses < seen.head.size() && seen.head[responses])
            parser.skip(true);
        boost::beast::error_code ec;
        while (!ec && !parser.is_done() && pos < t.out.size()) {
            std::size_t n =
                parser.put(boost::asio::const_buffer(t.out.data() + pos, t.out.size() - pos), ec);
            pos += n;
            if (n == 0 && !ec)
                break;
        }
        check(!ec && parser.is_done(), "output is not a well-formed response");
        const auto& m = parser.get();
        unsigned status = m.result_int();
        if (status == 100) { // the interim answer to "Expect: 100-continue"
            check(m.find("X-Request") == m.end() && !refused, "a misplaced 100 Continue");
            continue;
        }
        check(kAllowed.count(status) == 1, "status outside the allowed set");
        auto tag = m.find("X-Request");
        if (tag == m.end() && status == 500) {
            check(responses < seen.head.size(), "a 500 with no handler call behind it");
        } else if (tag == m.end()) {
            check(kRefusals.count(status) == 1, "a response without X-Request is not a refusal");
            refused = true;
        } else {
            check(std::string(tag->value()) == std::to_string(responses), "responses out of order");
        }
        last_closes = !m.keep_alive();
        ++responses;
    }
    check(responses == seen.head.size() + (refused ? 1 : 0), "a request without its response");
    check(t.requests == seen.head.size(), "count_request() differs from the handler's calls");
    if (refused)
        check(closed_by_data || t.closed, "no close() after a refusal");
    if (closed_by_data)
        check(responses > 0 && last_closes, "closed without a final Connection: close response");
    return 0;
}
