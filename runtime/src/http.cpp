// http.cpp — the HTTP/1.1 protocol on top of the server: parsing (Boost.Beast), limits,
// timeouts, responses, and byte ranges.
//
// Bytes a callback delivers are appended to `pending_`; a Beast request_parser consumes
// complete pieces of it (a header block only once it is whole, body bytes as they come), and
// every finished request is answered at once, so pipelined requests are answered in order
// within one cycle. What Beast leaves unconsumed waits for the next callback. After the first
// limit violation or parse error the protocol answers once, closes and ignores the rest.
//
// Deadlines: with no partial request buffered the connection waits idle_timeout for one;
// once a request has started, it has request_timeout in total to complete (the deadline is
// set at its first byte and not extended by later bytes, so trickling does not keep it open).
#include "px/runtime.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <strings.h>

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

namespace px::runtime {

namespace http = boost::beast::http;

namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// Digits only (no sign, no space); false on overflow or anything else.
bool parse_u64(std::string_view s, std::uint64_t& out) noexcept {
    if (s.empty())
        return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
}

std::string_view reason(unsigned status) {
    auto text = http::obsolete_reason(static_cast<http::status>(status));
    std::string_view r(text.data(), text.size());
    return r.empty() || r.front() == '<' ? std::string_view("Unknown") : r;
}

class HttpProtocol final : public Protocol {
public:
    HttpProtocol(const HttpHandler& handler, const HttpLimits& limits)
        : handler_(handler), limits_(limits) {}

    void connection_made(Transport& t) override { t.set_deadline(limits_.idle_timeout); }
    void data_received(Transport& t, std::string_view data) override;
    void timed_out(Transport& t) override;

private:
    using Parser = http::request_parser<http::string_body>;

    void new_parser();
    bool header_within_limits(Transport& t);
    void answer(Transport& t, Parser::value_type& message);
    void write(Transport& t, HttpResponse& response, unsigned version, bool keep_alive, bool head);
    void refuse(Transport& t, unsigned status, std::string_view why);
    unsigned status_for_header_limit() const;

    const HttpHandler& handler_; // owned by the factory, which outlives its protocols
    HttpLimits limits_;
    std::string pending_; // received, not consumed by the parser yet
    std::optional<Parser> parser_;
    bool header_checked_ = false;
    bool in_request_ = false; // part of a request is buffered; request_timeout runs
    bool closing_ = false;
};

void HttpProtocol::new_parser() {
    parser_.emplace();
    parser_->header_limit(
        static_cast<std::uint32_t>(std::min<std::size_t>(limits_.max_header_bytes, UINT32_MAX)));
    parser_->body_limit(limits_.max_body);
    header_checked_ = false;
}

void HttpProtocol::data_received(Transport& t, std::string_view data) {
    if (closing_)
        return;
    pending_.append(data);
    std::size_t pos = 0;
    while (!closing_ && pos < pending_.size()) {
        if (!parser_)
            new_parser();
        boost::beast::error_code ec;
        std::size_t n = parser_->put(
            boost::asio::const_buffer(pending_.data() + pos, pending_.size() - pos), ec);
        pos += n;
        if (ec == http::error::need_more)
            break;
        if (ec == http::error::header_limit) {
            unsigned status = status_for_header_limit();
            refuse(t, status,
                   status == 414 ? "request target too long\n" : "request header too large\n");
            return;
        }
        if (ec == http::error::body_limit) {
            refuse(t, 413, "request body too large\n");
            return;
        }
        if (ec) {
            refuse(t, 400, "malformed request\n");
            return;
        }
        if (parser_->is_header_done() && !header_checked_ && !header_within_limits(t))
            return;
        if (parser_->is_done()) {
            Parser::value_type message = parser_->release();
            parser_.reset();
            answer(t, message);
        } else if (n == 0) {
            break;
        }
    }
    pending_.erase(0, pos);
    if (closing_)
        return;
    if (parser_ || !pending_.empty()) {
        if (!in_request_) {
            in_request_ = true;
            t.set_deadline(limits_.request_timeout);
        }
    } else {
        in_request_ = false;
        t.set_deadline(limits_.idle_timeout);
    }
}

// Beast reports one error for a header block past the limit. It parses the request line as
// soon as that line is complete: a target it has seen decides between 414 and 431; if it saw
// none, the request line alone did not fit, which is the target's fault (414).
unsigned HttpProtocol::status_for_header_limit() const {
    auto target = parser_->get().target();
    if (target.empty())
        return 414;
    return target.size() > limits_.max_target ? 414 : 431;
}

bool HttpProtocol::header_within_limits(Transport& t) {
    header_checked_ = true;
    const auto& message = parser_->get();
    if (message.target().size() > limits_.max_target) {
        refuse(t, 414, "request target too long\n");
        return false;
    }
    std::size_t fields = 0;
    for (auto it = message.begin(); it != message.end(); ++it)
        ++fields;
    if (fields > limits_.max_headers) {
        refuse(t, 431, "too many header fields\n");
        return false;
    }
    // A client that waits for permission to send its body (curl does, past 1 KiB) gets it
    // now; one whose body is over the limit got 413 from Beast already.
    auto expect = message.find(http::field::expect);
    if (expect != message.end() && message.version() == 11 && !parser_->is_done() &&
        iequals(std::string_view(expect->value().data(), expect->value().size()), "100-continue"))
        t.send("HTTP/1.1 100 Continue\r\n\r\n");
    return true;
}

void HttpProtocol::answer(Transport& t, Parser::value_type& message) {
    t.count_request();
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    std::size_t question = request.target.find('?');
    request.path = request.target.substr(0, question);
    if (question != std::string::npos)
        request.query = request.target.substr(question + 1);
    request.version = message.version();
    for (const auto& field : message)
        request.headers.push_back({std::string(field.name_string()), std::string(field.value())});
    request.body = std::move(message.body());

    HttpResponse response;
    try {
        response = handler_(request, t);
    } catch (...) {
        t.count_error();
        response = HttpResponse::text(500, "internal server error\n");
    }
    write(t, response, request.version, message.keep_alive(), request.method == "HEAD");
}

void HttpProtocol::write(Transport& t, HttpResponse& response, unsigned version, bool keep_alive,
                         bool head) {
    std::uint64_t length = response.file ? response.file->length : response.body.size();
    std::string out;
    out.reserve(128 + 64 * response.headers.size());
    out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    out += std::to_string(response.status);
    out += ' ';
    out += reason(response.status);
    out += "\r\n";
    for (const HttpHeader& h : response.headers) {
        if (iequals(h.name, "Content-Length") || iequals(h.name, "Connection") ||
            iequals(h.name, "Transfer-Encoding"))
            continue;
        out += h.name;
        out += ": ";
        out += h.value;
        out += "\r\n";
    }
    out += "Content-Length: ";
    out += std::to_string(length);
    out += "\r\n";
    if (!keep_alive)
        out += "Connection: close\r\n";
    else if (version == 10)
        out += "Connection: keep-alive\r\n";
    out += "\r\n";
    bool queued = t.send(out);
    if (queued && !head && length > 0) {
        if (response.file)
            queued = t.sendfile(response.file->fd.get(), response.file->offset, length);
        else
            queued = t.send(response.body);
    }
    if (!queued || !keep_alive) {
        closing_ = true;
        t.close();
    }
}

void HttpProtocol::refuse(Transport& t, unsigned status, std::string_view why) {
    t.count_error();
    HttpResponse response = HttpResponse::text(status, std::string(why));
    write(t, response, 11, false, false);
    parser_.reset();
    pending_.clear();
}

void HttpProtocol::timed_out(Transport& t) {
    if (closing_)
        return;
    if (in_request_) {
        refuse(t, 408, "request timeout\n");
    } else {
        closing_ = true;
        t.close();
    }
}

} // namespace

// ---- public helpers ---------------------------------------------------------------------

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = other.release();
    }
    return *this;
}

UniqueFd::~UniqueFd() {
    if (fd_ >= 0)
        ::close(fd_);
}

const std::string* HttpRequest::header(std::string_view name) const noexcept {
    for (const HttpHeader& h : headers)
        if (iequals(h.name, name))
            return &h.value;
    return nullptr;
}

HttpResponse HttpResponse::text(unsigned status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.headers.push_back({"Content-Type", "text/plain; charset=utf-8"});
    return r;
}

HttpResponse& HttpResponse::set(std::string name, std::string value) {
    for (HttpHeader& h : headers) {
        if (iequals(h.name, name)) {
            h.value = std::move(value);
            return *this;
        }
    }
    headers.push_back({std::move(name), std::move(value)});
    return *this;
}

ProtocolFactory http_protocol(HttpHandler handler, HttpLimits limits) {
    auto shared = std::make_shared<const HttpHandler>(std::move(handler));
    return [shared, limits]() -> std::unique_ptr<Protocol> {
        return std::make_unique<HttpProtocol>(*shared, limits);
    };
}

RangeRequest parse_range(std::string_view header, std::uint64_t length) noexcept {
    RangeRequest none;
    header = trim(header);
    constexpr std::string_view kUnit = "bytes=";
    if (header.size() < kUnit.size() || !iequals(header.substr(0, kUnit.size()), kUnit))
        return none;
    header.remove_prefix(kUnit.size());

    // RFC 9110 §14.1.1: a ranges-specifier is a comma-separated list; empty elements are
    // allowed and ignored.
    std::size_t specs = 0;
    std::string_view spec;
    for (std::string_view rest = header;;) {
        std::size_t comma = rest.find(',');
        std::string_view part = trim(rest.substr(0, comma));
        if (!part.empty()) {
            ++specs;
            spec = part;
        }
        if (comma == std::string_view::npos)
            break;
        rest.remove_prefix(comma + 1);
    }
    if (specs == 0)
        return none;
    if (specs > 1)
        return {RangeRequest::multiple, 0, 0};

    std::size_t dash = spec.find('-');
    if (dash == std::string_view::npos)
        return none;
    std::string_view first_text = trim(spec.substr(0, dash));
    std::string_view last_text = trim(spec.substr(dash + 1));
    std::uint64_t first = 0, last = 0;
    if (first_text.empty()) { // suffix-range: the last N bytes
        if (!parse_u64(last_text, last))
            return none;
        if (last == 0 || length == 0)
            return {RangeRequest::unsatisfiable, 0, 0};
        std::uint64_t n = std::min(last, length);
        return {RangeRequest::single, length - n, n};
    }
    if (!parse_u64(first_text, first))
        return none;
    if (last_text.empty())
        last = UINT64_MAX; // open end: to the end of the representation
    else if (!parse_u64(last_text, last) || last < first)
        return none; // invalid: the header is ignored (RFC 9110 §14.2)
    if (first >= length)
        return {RangeRequest::unsatisfiable, 0, 0};
    return {RangeRequest::single, first, std::min(last, length - 1) - first + 1};
}

HttpResponse file_response(const HttpRequest& request, const std::string& path,
                           std::string_view content_type, FileSlice slice) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
        return HttpResponse::text(404, "not found\n");
    auto size = static_cast<std::uint64_t>(st.st_size);
    if (slice.offset > size || slice.count.value_or(0) > size - slice.offset)
        return HttpResponse::text(404, "not found\n");
    std::uint64_t length = slice.count.value_or(size - slice.offset);

    RangeRequest range;
    if (const std::string* header = request.header("Range"))
        range = parse_range(*header, length);
    if (range.kind == RangeRequest::unsatisfiable || range.kind == RangeRequest::multiple) {
        HttpResponse r = HttpResponse::text(416, range.kind == RangeRequest::multiple
                                                     ? "multiple ranges are not supported\n"
                                                     : "range not satisfiable\n");
        r.set("Content-Range", "bytes */" + std::to_string(length));
        return r;
    }
    HttpResponse r;
    r.set("Content-Type", std::string(content_type));
    r.set("Accept-Ranges", "bytes");
    FileBody body{std::move(fd), slice.offset, length};
    if (range.kind == RangeRequest::single) {
        r.status = 206;
        body.offset = slice.offset + range.first;
        body.length = range.length;
        r.set("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                   std::to_string(range.first + range.length - 1) + "/" +
                                   std::to_string(length));
    }
    r.file = std::move(body);
    return r;
}

} // namespace px::runtime
