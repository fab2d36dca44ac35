// The HTTP/1.1 layer over real sockets: requests, keep-alive, pipelining, limits, timeouts,
// files and ranges; and parse_range() on its own.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "px/runtime.h"
#include "server_support.h"

namespace {

using namespace std::chrono_literals;
using px::runtime::HttpLimits;
using px::runtime::HttpRequest;
using px::runtime::HttpResponse;
using px::runtime::parse_range;
using px::runtime::RangeRequest;
using px::runtime::ServerOptions;
using px::runtime::Transport;
using pxtest::Client;
using pxtest::get;
using pxtest::RunningServer;

// A temporary file of `size` patterned bytes.
class TempFile {
public:
    explicit TempFile(std::size_t size) {
        char name[] = "/tmp/px_http_XXXXXX";
        int fd = ::mkstemp(name);
        path_ = name;
        for (std::size_t i = 0; i < size; ++i)
            content_ += static_cast<char>((i * 131 + i / 251) & 0xff);
        EXPECT_EQ(::write(fd, content_.data(), size), ssize_t(size));
        ::close(fd);
    }
    ~TempFile() { ::unlink(path_.c_str()); }
    const std::string& path() const { return path_; }
    const std::string& content() const { return content_; }

private:
    std::string path_;
    std::string content_;
};

px::runtime::FileSlice slice_of(const HttpRequest& r) {
    px::runtime::FileSlice slice;
    std::size_t dash = r.query.find('-');
    slice.offset = std::stoull(r.query.substr(0, dash));
    if (dash + 1 < r.query.size())
        slice.count = std::stoull(r.query.substr(dash + 1));
    return slice;
}

struct App {
    std::string file_path;
    std::promise<void> slow_entered;
    std::shared_future<void> slow_release;

    HttpResponse handle(const HttpRequest& r, Transport&) {
        if (r.path == "/hello")
            return HttpResponse::text(200, "Hello, World!");
        if (r.path == "/echo")
            return HttpResponse::text(200, r.method + " " + r.path + " ?" + r.query + " [" +
                                               r.body + "] " +
                                               (r.header("x-tag") ? *r.header("X-TAG") : ""));
        if (r.path == "/file")
            return px::runtime::file_response(r, file_path);
        if (r.path == "/slice") // ?OFFSET-COUNT, or ?OFFSET- to the end
            return px::runtime::file_response(r, file_path, "application/x-slice", slice_of(r));
        if (r.path == "/throw")
            throw std::runtime_error("handler failed");
        if (r.path == "/slow") {
            slow_entered.set_value();
            slow_release.wait();
            return HttpResponse::text(200, "slow");
        }
        if (r.path == "/nap") { // in flight for a moment, for the stop-under-load test
            std::this_thread::sleep_for(20ms);
            return HttpResponse::text(200, "nap");
        }
        if (r.path == "/heap") {
            px::Heap& heap = *px::current_context()->heap;
            std::size_t entry = heap.stats().bytes_held;
            for (int i = 0; i < 100; ++i)
                static_cast<char*>(heap.alloc(512))[0] = 1;
            return HttpResponse::text(200, std::to_string(entry) + " " +
                                               std::to_string(heap.stats().bytes_held));
        }
        return HttpResponse::text(404, "no such route\n");
    }
};

class Http : public ::testing::Test {
protected:
    void start(HttpLimits limits = {}, unsigned workers = 2) {
        ServerOptions o;
        o.workers = workers;
        server_ = std::make_unique<RunningServer>(
            o,
            px::runtime::http_protocol(
                [this](const HttpRequest& r, Transport& t) { return app_.handle(r, t); }, limits));
    }
    std::uint16_t port() const { return server_->port(); }

    // One request on a fresh connection; the response must be followed by the end of stream
    // when `closes`.
    pxtest::Response one(const std::string& request, bool closes) {
        Client c(port());
        EXPECT_TRUE(c.send(request));
        auto r = c.response();
        EXPECT_TRUE(r.has_value());
        if (closes) {
            EXPECT_TRUE(c.at_eof()) << "the connection stays open after " << (r ? r->status : 0);
        }
        return r.value_or(pxtest::Response{});
    }

    App app_;
    std::unique_ptr<RunningServer> server_;
};

TEST_F(Http, SimpleGet) {
    start();
    Client c(port());
    ASSERT_TRUE(c.send(get("/hello")));
    auto r = c.response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200u);
    EXPECT_EQ(r->body, "Hello, World!");
    EXPECT_EQ(r->header("content-length"), "13");
    EXPECT_EQ(r->header("content-type"), "text/plain; charset=utf-8");
    EXPECT_EQ(r->header("connection"), "");
}

TEST_F(Http, RequestPartsReachTheHandler) {
    start();
    EXPECT_EQ(one("POST /echo?a=1&b=2 HTTP/1.1\r\nHost: x\r\nX-Tag: t1\r\n"
                  "Content-Length: 5\r\n\r\nhello",
                  false)
                  .body,
              "POST /echo ?a=1&b=2 [hello] t1");
}

TEST_F(Http, ChunkedBodyIsAssembled) {
    start();
    EXPECT_EQ(one("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                  false)
                  .body,
              "POST /echo ? [abcde] ");
}

TEST_F(Http, ExpectContinueIsAnsweredBeforeTheBodyIsSent) {
    start();
    Client c(port());
    ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                       "Content-Length: 3\r\n\r\n"));
    auto interim = c.response();
    ASSERT_TRUE(interim);
    EXPECT_EQ(interim->status, 100u);
    ASSERT_TRUE(c.send("xyz"));
    auto r = c.response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "POST /echo ? [xyz] ");
}

TEST_F(Http, KeepAliveServesSeveralRequestsOnOneConnection) {
    start();
    Client c(port());
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(c.send(get("/echo?n=" + std::to_string(i))));
        auto r = c.response();
        ASSERT_TRUE(r) << i;
        EXPECT_EQ(r->body, "GET /echo ?n=" + std::to_string(i) + " [] ");
    }
    auto s = (*server_)->stats();
    EXPECT_EQ(s.total, 1u);
    EXPECT_EQ(s.requests, 5u);
}

TEST_F(Http, PipelinedRequestsAreAnsweredInOrder) {
    start();
    Client c(port());
    std::string batch;
    for (int i = 0; i < 20; ++i)
        batch += i % 3 == 0 ? "POST /echo?i=" + std::to_string(i) +
                                  " HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok"
                            : get("/echo?i=" + std::to_string(i));
    ASSERT_TRUE(c.send(batch));
    for (int i = 0; i < 20; ++i) {
        auto r = c.response();
        ASSERT_TRUE(r) << i;
        EXPECT_EQ(r->body, (i % 3 == 0 ? "POST /echo ?i=" : "GET /echo ?i=") + std::to_string(i) +
                               (i % 3 == 0 ? " [ok] " : " [] "));
    }
}

TEST_F(Http, RequestSplitAcrossWritesIsAssembled) {
    start();
    Client c(port());
    std::string request = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd";
    for (char ch : request) {
        ASSERT_TRUE(c.send(std::string(1, ch)));
        std::this_thread::yield();
    }
    auto r = c.response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "POST /echo ? [abcd] ");
}

TEST_F(Http, Http10WithoutKeepAliveIsClosedAfterTheResponse) {
    start();
    auto r = one("GET /hello HTTP/1.0\r\n\r\n", true);
    EXPECT_EQ(r.status, 200u);
}

TEST_F(Http, ConnectionCloseIsHonoured) {
    start();
    auto r = one(get("/hello", "Connection: close\r\n"), true);
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("connection"), "close");
}

TEST_F(Http, UnknownRouteIsTheHandlersAnswer) {
    start();
    EXPECT_EQ(one(get("/nowhere"), false).status, 404u);
}

TEST_F(Http, HandlerExceptionIs500AndTheConnectionGoesOn) {
    start();
    Client c(port());
    ASSERT_TRUE(c.send(get("/throw") + get("/hello")));
    auto r1 = c.response();
    auto r2 = c.response();
    ASSERT_TRUE(r1 && r2);
    EXPECT_EQ(r1->status, 500u);
    EXPECT_EQ(r2->status, 200u);
    EXPECT_EQ((*server_)->stats().errors, 1u);
}

TEST_F(Http, HeadGetsHeadersOnly) {
    start();
    Client c(port());
    ASSERT_TRUE(c.send("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n" + get("/hello")));
    auto r1 = c.response(true);
    ASSERT_TRUE(r1);
    EXPECT_EQ(r1->header("content-length"), "13");
    auto r2 = c.response();
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->body, "Hello, World!");
}

// ---- limits -----------------------------------------------------------------------------

HttpLimits small_limits() {
    HttpLimits l;
    l.max_header_bytes = 1024;
    l.max_headers = 10;
    l.max_target = 256;
    l.max_body = 1000;
    return l;
}

TEST_F(Http, HeaderBlockTooLargeIs431) {
    start(small_limits());
    auto r = one(get("/hello", "X-Big: " + std::string(2000, 'a') + "\r\n"), true);
    EXPECT_EQ(r.status, 431u);
}

TEST_F(Http, TooManyHeaderFieldsIs431) {
    start(small_limits());
    std::string fields;
    for (int i = 0; i < 20; ++i)
        fields += "X-F" + std::to_string(i) + ": v\r\n";
    auto r = one(get("/hello", fields), true);
    EXPECT_EQ(r.status, 431u);
}

TEST_F(Http, TargetTooLongIs414) {
    start(small_limits());
    EXPECT_EQ(one(get("/" + std::string(300, 'a')), true).status, 414u);
}

TEST_F(Http, TargetLongerThanTheWholeHeaderLimitIs414) {
    start(small_limits());
    EXPECT_EQ(one(get("/" + std::string(3000, 'a')), true).status, 414u);
}

TEST_F(Http, BodyTooLargeIs413) {
    start(small_limits());
    std::string request = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n";
    EXPECT_EQ(one(request + std::string(5000, 'b'), true).status, 413u);
}

TEST_F(Http, ChunkedBodyTooLargeIs413) {
    start(small_limits());
    std::string request = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 3; ++i)
        request += "1f4\r\n" + std::string(500, 'c') + "\r\n";
    EXPECT_EQ(one(request + "0\r\n\r\n", true).status, 413u);
}

TEST_F(Http, MalformedRequestIs400AndTheServerServesTheNextConnection) {
    start();
    EXPECT_EQ(one("THIS IS NOT HTTP\r\n\r\n", true).status, 400u);
    EXPECT_EQ(one("GET / HTTP/1.1\r\nBad Header\r\n\r\n", true).status, 400u);
    EXPECT_EQ(one(get("/hello"), false).status, 200u);
    EXPECT_EQ((*server_)->stats().errors, 2u);
}

TEST_F(Http, RequestsBeforeAMalformedOneAreAnswered) {
    start();
    Client c(port());
    ASSERT_TRUE(c.send(get("/hello") + "GARBAGE\r\n\r\n"));
    auto r1 = c.response();
    auto r2 = c.response();
    ASSERT_TRUE(r1 && r2);
    EXPECT_EQ(r1->status, 200u);
    EXPECT_EQ(r2->status, 400u);
    EXPECT_TRUE(c.at_eof());
}

TEST_F(Http, IdleKeepAliveConnectionIsClosedWithoutAResponse) {
    HttpLimits l;
    l.idle_timeout = 200ms;
    start(l);
    Client c(port());
    ASSERT_TRUE(c.send(get("/hello")));
    ASSERT_TRUE(c.response());
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.at_eof());
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 150ms);
}

TEST_F(Http, SlowClientGets408ThenTheConnectionCloses) {
    HttpLimits l;
    l.request_timeout = 300ms;
    l.idle_timeout = 60000ms;
    start(l);
    Client c(port());
    ASSERT_TRUE(c.send("GET /hello HTTP/1.1\r\nHo"));
    // Trickling bytes does not extend the deadline.
    std::this_thread::sleep_for(100ms);
    ASSERT_TRUE(c.send("s"));
    auto r = c.response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 408u);
    EXPECT_TRUE(c.at_eof());
}

// ---- files and ranges -------------------------------------------------------------------

TEST_F(Http, FileIsSentWithExactBytes) {
    TempFile file(3u << 20);
    app_.file_path = file.path();
    start();
    Client c(port());
    ASSERT_TRUE(c.send(get("/file") + get("/hello")));
    auto r = c.response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200u);
    EXPECT_EQ(r->header("accept-ranges"), "bytes");
    EXPECT_TRUE(r->body == file.content()) << "the file's bytes differ";
    auto after = c.response();
    ASSERT_TRUE(after);
    EXPECT_EQ(after->body, "Hello, World!");
}

TEST_F(Http, MissingFileIs404) {
    app_.file_path = "/nonexistent/px/file";
    start();
    EXPECT_EQ(one(get("/file"), false).status, 404u);
}

struct RangeCase {
    const char* header;
    unsigned status;
    std::size_t first, length; // expected body slice for 206
    const char* content_range;
};

TEST_F(Http, RangesOfAFile) {
    TempFile file(1000);
    app_.file_path = file.path();
    start();
    const RangeCase cases[] = {
        {"bytes=0-9", 206, 0, 10, "bytes 0-9/1000"},
        {"bytes=-5", 206, 995, 5, "bytes 995-999/1000"},
        {"bytes=990-", 206, 990, 10, "bytes 990-999/1000"},
        {"bytes=500-2000", 206, 500, 500, "bytes 500-999/1000"},
        {"bytes=-5000", 206, 0, 1000, "bytes 0-999/1000"},
        {"bytes=1000-", 416, 0, 0, "bytes */1000"},
        {"bytes=-0", 416, 0, 0, "bytes */1000"},
        {"bytes=0-1,4-5", 416, 0, 0, "bytes */1000"},
        {"bytes=9-3", 200, 0, 1000, ""},
        {"items=0-9", 200, 0, 1000, ""},
    };
    Client c(port());
    for (const RangeCase& k : cases) {
        ASSERT_TRUE(c.send(get("/file", std::string("Range: ") + k.header + "\r\n")));
        auto r = c.response();
        ASSERT_TRUE(r) << k.header;
        EXPECT_EQ(r->status, k.status) << k.header;
        EXPECT_EQ(r->header("content-range"), k.content_range) << k.header;
        if (k.status != 416) {
            EXPECT_TRUE(r->body == file.content().substr(k.first, k.length)) << k.header;
        }
    }
}

TEST_F(Http, SliceOfAFileIsTheWholeBodyAndRangesApplyWithinIt) {
    TempFile file(1000);
    app_.file_path = file.path();
    start();
    struct SliceCase {
        const char* query;
        const char* range; // nullptr: none
        unsigned status;
        std::size_t first, length; // the body: file bytes [first, first + length)
        const char* content_range;
    };
    const SliceCase cases[] = {
        {"100-50", nullptr, 200, 100, 50, ""},
        {"100-50", "bytes=0-9", 206, 100, 10, "bytes 0-9/50"},
        {"100-50", "bytes=-5", 206, 145, 5, "bytes 45-49/50"},
        {"100-50", "bytes=50-", 416, 0, 0, "bytes */50"},
        {"990-", nullptr, 200, 990, 10, ""},   // to the end of the file
        {"1000-0", nullptr, 200, 1000, 0, ""}, // empty, at the end
        {"990-11", nullptr, 404, 0, 0, ""},    // past the end
        {"1001-", nullptr, 404, 0, 0, ""},
    };
    Client c(port());
    for (const SliceCase& k : cases) {
        std::string target = std::string("/slice?") + k.query;
        ASSERT_TRUE(c.send(get(target, k.range ? std::string("Range: ") + k.range + "\r\n" : "")));
        auto r = c.response();
        ASSERT_TRUE(r) << k.query;
        EXPECT_EQ(r->status, k.status) << k.query;
        EXPECT_EQ(r->header("content-range"), k.content_range) << k.query;
        if (k.status == 200 || k.status == 206) {
            EXPECT_EQ(r->header("content-type"), "application/x-slice") << k.query;
            EXPECT_TRUE(r->body == file.content().substr(k.first, k.length)) << k.query;
        }
    }
}

TEST(ParseRange, Cases) {
    auto single = [](RangeRequest r, std::uint64_t first, std::uint64_t length) {
        return r.kind == RangeRequest::single && r.first == first && r.length == length;
    };
    EXPECT_TRUE(single(parse_range("bytes=0-0", 10), 0, 1));
    EXPECT_TRUE(single(parse_range("bytes=0-", 10), 0, 10));
    EXPECT_TRUE(single(parse_range("bytes=9-", 10), 9, 1));
    EXPECT_TRUE(single(parse_range("bytes=-1", 10), 9, 1));
    EXPECT_TRUE(single(parse_range("bytes=-10", 10), 0, 10));
    EXPECT_TRUE(single(parse_range("Bytes=2-4", 10), 2, 3)) << "the unit is case-insensitive";
    EXPECT_TRUE(single(parse_range(" bytes= 2 - 4 ", 10), 2, 3));
    EXPECT_TRUE(single(parse_range("bytes=2-4,", 10), 2, 3)) << "empty list elements are ignored";
    EXPECT_TRUE(single(parse_range("bytes=0-18446744073709551615", 10), 0, 10));
    EXPECT_EQ(parse_range("bytes=10-", 10).kind, RangeRequest::unsatisfiable);
    EXPECT_EQ(parse_range("bytes=-0", 10).kind, RangeRequest::unsatisfiable);
    EXPECT_EQ(parse_range("bytes=0-", 0).kind, RangeRequest::unsatisfiable);
    EXPECT_EQ(parse_range("bytes=-3", 0).kind, RangeRequest::unsatisfiable);
    EXPECT_EQ(parse_range("bytes=0-1,3-4", 10).kind, RangeRequest::multiple);
    EXPECT_EQ(parse_range("", 10).kind, RangeRequest::none);
    EXPECT_EQ(parse_range("bytes=", 10).kind, RangeRequest::none);
    EXPECT_EQ(parse_range("bytes=abc", 10).kind, RangeRequest::none);
    EXPECT_EQ(parse_range("bytes=5-2", 10).kind, RangeRequest::none);
    EXPECT_EQ(parse_range("bytes=1-x", 10).kind, RangeRequest::none);
    EXPECT_EQ(parse_range("bytes=+1-2", 10).kind, RangeRequest::none);
    EXPECT_EQ(parse_range("bytes=99999999999999999999-", 10).kind, RangeRequest::none);
    EXPECT_EQ(parse_range("pages=1-2", 10).kind, RangeRequest::none);
}

// ---- contexts, concurrency, stopping, stats ---------------------------------------------

TEST_F(Http, HeapIsBackAtTheSnapshotLevelForEveryRequest) {
    start();
    Client c(port());
    std::string first;
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(c.send(get("/heap")));
        auto r = c.response();
        ASSERT_TRUE(r);
        std::size_t space = r->body.find(' ');
        std::string entry = r->body.substr(0, space);
        EXPECT_GE(std::stoull(r->body.substr(space + 1)), std::stoull(entry) + 100u * 512u);
        if (i == 0) {
            first = entry;
        } else {
            EXPECT_EQ(entry, first) << "request " << i;
        }
    }
}

TEST_F(Http, SlowHandlerDoesNotDelayAnotherConnection) {
    std::promise<void> release;
    app_.slow_release = release.get_future().share();
    start({}, 2);
    Client slow(port());
    ASSERT_TRUE(slow.send(get("/slow")));
    ASSERT_EQ(app_.slow_entered.get_future().wait_for(5s), std::future_status::ready);
    Client fast(port(), 3000ms);
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(fast.send(get("/hello")));
    auto r = fast.response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200u);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
    release.set_value();
    auto s = slow.response();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->body, "slow");
}

TEST_F(Http, StopUnderLoadReturnsWithinFiveSeconds) {
    start({}, 2);
    std::atomic<bool> done{false};
    std::atomic<int> complete{0};
    std::atomic<int> broken{0};
    std::vector<std::thread> clients;
    clients.reserve(8);
    for (int i = 0; i < 8; ++i) {
        clients.emplace_back([&, i] {
            while (!done.load()) {
                Client c(port(), 6000ms);
                if (!c.connected())
                    return;
                for (;;) {
                    if (!c.send(get(i % 2 ? "/nap" : "/hello")))
                        break;
                    auto r = c.response();
                    if (!r)
                        break;
                    if (r->status == 200)
                        complete.fetch_add(1);
                    else
                        broken.fetch_add(1);
                }
            }
        });
    }
    ASSERT_TRUE(pxtest::eventually([&] { return complete.load() > 200; }, 20000ms));
    auto t0 = std::chrono::steady_clock::now();
    server_->stop();
    auto took = std::chrono::steady_clock::now() - t0;
    done.store(true);
    for (auto& t : clients)
        t.join();
    EXPECT_LT(took, 5s);
    EXPECT_EQ(broken.load(), 0) << "every response that arrived was complete and 200";
    EXPECT_EQ((*server_)->stats().open, 0u);
}

TEST_F(Http, StatsCountRequestsBytesAndConnectionsPerWorker) {
    start({}, 2);
    std::size_t received = 0;
    {
        Client a(port());
        Client b(port());
        for (int i = 0; i < 3; ++i) {
            ASSERT_TRUE(a.send(get("/hello")));
            ASSERT_TRUE(a.response());
        }
        ASSERT_TRUE(b.send(get("/hello") + get("/nowhere")));
        ASSERT_TRUE(b.response());
        ASSERT_TRUE(b.response());
        received = a.received() + b.received();
    }
    ASSERT_TRUE(pxtest::eventually([&] { return (*server_)->stats().open == 0; }));
    auto s = (*server_)->stats();
    EXPECT_EQ(s.total, 2u);
    EXPECT_EQ(s.requests, 5u);
    EXPECT_EQ(s.bytes_sent, received);
    EXPECT_EQ(s.errors, 0u);
    ASSERT_EQ(s.workers.size(), 2u);
    // Any worker may run any callback: what each did is not fixed, only that it adds up.
    EXPECT_EQ(s.workers[0].requests + s.workers[1].requests, 5u);
    EXPECT_EQ(s.workers[0].bytes_sent + s.workers[1].bytes_sent, received);
    EXPECT_EQ(s.workers[0].total + s.workers[1].total, 2u);
}

} // namespace
