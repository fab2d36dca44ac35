// server_support.h — what the server tests share: a server running on a thread of its own,
// a blocking client on plain POSIX sockets, a minimal HTTP response reader, and waiting for a
// condition with a deadline.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "px/runtime.h"

namespace pxtest {

using namespace std::chrono_literals;

// Polls `condition` until it holds or `timeout` passes (for state only observable by reading
// it, such as counters); returns its last value.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline)
            return condition();
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

// A Server whose run() runs on a thread of its own for the object's lifetime.
class RunningServer {
public:
    RunningServer(px::runtime::ServerOptions options, px::runtime::ProtocolFactory factory)
        : server_(std::move(options), std::move(factory)), thread_([this] { server_.run(); }) {}
    ~RunningServer() { stop(); }
    RunningServer(const RunningServer&) = delete;
    RunningServer& operator=(const RunningServer&) = delete;

    px::runtime::Server& operator*() { return server_; }
    px::runtime::Server* operator->() { return &server_; }
    std::uint16_t port() const { return server_.port(); }
    void stop() {
        server_.stop();
        if (thread_.joinable())
            thread_.join();
    }

private:
    px::runtime::Server server_;
    std::thread thread_;
};

struct Response {
    unsigned status = 0;
    std::map<std::string, std::string> headers; // names in lower case
    std::string body;
    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

// A blocking TCP client to 127.0.0.1; every receive gives up after `timeout`, so a server
// that never answers fails the test instead of hanging it.
class Client {
public:
    explicit Client(std::uint16_t port, std::chrono::milliseconds timeout = 10000ms) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        timeval tv{static_cast<time_t>(timeout.count() / 1000),
                   static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    }
    ~Client() { close(); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    bool connected() const { return connected_; }
    std::uint16_t local_port() const {
        sockaddr_in addr{};
        socklen_t len = sizeof(addr);
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        return ntohs(addr.sin_port);
    }
    void close() {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = -1;
    }

    bool send(std::string_view data) {
        while (!data.empty()) {
            ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n <= 0)
                return false;
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    // Reads once more into the buffer; false on end of stream, error or timeout.
    bool fill() {
        char chunk[64 * 1024];
        ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
        if (n <= 0)
            return false;
        received_ += static_cast<std::size_t>(n);
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return true;
    }

    // Exactly n bytes (fewer if the stream ends first).
    std::string read(std::size_t n) {
        while (buffer_.size() < n && fill()) {
        }
        std::string out = buffer_.substr(0, n);
        buffer_.erase(0, out.size());
        return out;
    }

    // The next line, without its '\n'; nothing if the stream ended or timed out first.
    std::optional<std::string> line() {
        std::size_t end;
        while ((end = buffer_.find('\n')) == std::string::npos)
            if (!fill())
                return std::nullopt;
        std::string out = buffer_.substr(0, end);
        buffer_.erase(0, end + 1);
        return out;
    }

    // True when the server closed the stream with nothing more buffered or sent.
    bool at_eof() {
        if (!buffer_.empty())
            return false;
        char c;
        return ::recv(fd_, &c, 1, 0) == 0;
    }

    // The next HTTP response (Content-Length framing), or nothing if the stream ended or
    // timed out first. `head`: the response to a HEAD request (no body).
    std::optional<Response> response(bool head = false) {
        std::size_t end;
        while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
            if (!fill())
                return std::nullopt;
        Response r;
        std::string_view block(buffer_.data(), end);
        std::size_t line_end = block.find("\r\n");
        std::string_view status_line = block.substr(0, line_end);
        if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/")
            return std::nullopt;
        r.status = static_cast<unsigned>(std::atoi(std::string(status_line.substr(9, 3)).c_str()));
        while (line_end != std::string_view::npos) {
            block.remove_prefix(line_end + 2);
            line_end = block.find("\r\n");
            std::string_view line = block.substr(0, line_end);
            std::size_t colon = line.find(':');
            if (colon == std::string_view::npos)
                continue;
            std::string name(line.substr(0, colon));
            for (char& ch : name)
                ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ')
                value.remove_prefix(1);
            r.headers[name] = std::string(value);
        }
        buffer_.erase(0, end + 4);
        std::size_t length = head ? 0
                                  : static_cast<std::size_t>(std::strtoull(
                                        r.header("content-length").c_str(), nullptr, 10));
        r.body = read(length);
        if (r.body.size() != length)
            return std::nullopt;
        return r;
    }

    std::size_t received() const { return received_; } // bytes, ever
    int fd() const { return fd_; }

private:
    int fd_ = -1;
    bool connected_ = false;
    std::string buffer_;
    std::size_t received_ = 0;
};

inline std::string get(std::string_view target, std::string_view extra_headers = "") {
    return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" +
           std::string(extra_headers) + "\r\n";
}

} // namespace pxtest
