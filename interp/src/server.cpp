// server.cpp — parallel.server / register / run / run_once / stop (API.md "Servers"), the
// Transport type, and the bridge from px::runtime::Server's protocol callbacks to Python.
//
// Threads. Each registered server runs px::runtime::Server::run() on a thread of its own (its
// acceptor) with N worker threads; each worker thread gets a Python thread state when it
// starts (ServerOptions::thread_start). A connection's callbacks run on a worker inside the
// connection's context, between the runtime's snapshot and rewind: the thread state is
// swapped in (a TLS write), the Python method is called, its result is queued for sending,
// and the thread state is cleared before the rewind.
//
// The main thread. Contexts read main-owned objects without locks, so they may run only while
// the main thread runs no Python: inside parallel.run() or parallel.run_once(), where it is
// parked (px/interp.h). A gate enforces it: a callback waits at the gate until the main
// thread is parked, and the main thread, before it leaves run(), closes the gate and waits
// for the callbacks in progress. Servers keep accepting and reading meanwhile (C++ only).
//
// The protocol instance and the Transport of a connection are created in a main-heap section
// (they must outlive the per-callback rewinds) and released in one when the connection ends.
// A callback therefore cannot store into them (MutationError): per-connection state that
// outlives a callback needs a session heap.
//
// Exceptions. A callback's exception is described in its context (traceback text), cloned to
// the main heap in a section and queued; the main thread logs it to stderr while it waits,
// and run_once() raises the oldest one still queued. The connection is closed.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <pxkit.h>

#include "callbacks.h"
#include "px/guards.h"
#include "px/interp.h"
#include "px/runtime.h"

namespace px::interp {
namespace {

using runtime::HttpRequest;
using runtime::HttpResponse;
using runtime::Transport;

// ---- the gate ------------------------------------------------------------------------------

// Callbacks pass while the main thread is parked in run(); close() waits for those inside.
class Gate {
public:
    void enter() {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return open_; });
        ++inside_;
    }
    void exit() {
        std::lock_guard lock(mu_);
        if (--inside_ == 0)
            cv_.notify_all();
    }
    void open() {
        std::lock_guard lock(mu_);
        open_ = true;
        cv_.notify_all();
    }
    void close() {
        std::unique_lock lock(mu_);
        open_ = false;
        cv_.wait(lock, [&] { return inside_ == 0; });
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool open_ = false;
    int inside_ = 0;
};

Gate g_gate;

// ---- failures queued to the main thread ------------------------------------------------------

struct QueuedError {
    PendingError error; // main-owned objects
    std::string where;  // "data_received() of 127.0.0.1:51234"
};

std::mutex g_queue_mutex;
std::condition_variable g_queue_cv;       // the main thread waits on it in run()
std::deque<QueuedError*> g_new_errors;    // not yet logged
std::deque<QueuedError*> g_kept_errors;   // logged, kept for run_once() (main thread only)
constexpr std::size_t kKeptErrors = 1000; // the oldest are dropped beyond this
std::atomic<bool> g_stop_requested{false};

// parallel.call_from_main_thread() from a server's callback: the call waits here until the
// main thread's loop runs it (or refuses it: not serving, or shutting down).
struct PendingCall {
    const std::function<void()>* fn;
    bool done = false;
    const char* refusal = nullptr;
};
std::deque<PendingCall*> g_calls;        // guarded by g_queue_mutex
std::condition_variable g_calls_done_cv; // with g_queue_mutex
bool g_accepting_calls = false;          // guarded by g_queue_mutex
const char* g_calls_refusal = "the main thread is not waiting in parallel.run()";
volatile sig_atomic_t g_sigterm = 0;

void wake_main() {
    std::lock_guard lock(g_queue_mutex);
    g_queue_cv.notify_all();
}

void write_stderr(const std::string& text) {
    const char* p = text.data();
    std::size_t left = text.size();
    while (left > 0) {
        ssize_t n = ::write(STDERR_FILENO, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

// Worker, in a context, with a Python exception set: queue it for the main thread.
void report_failure(const std::string& where) {
    const Context* ctx = current_context();
    Outcome out;
    describe_exception(out, ctx ? ctx->worker : 0);
    if (PxInterp_main_heap_enter()) {
        auto* q = new (std::nothrow) QueuedError;
        if (q != nullptr) {
            take_failure(q->error, out);
            q->where = where;
        }
        PxInterp_main_heap_exit();
        if (q != nullptr) {
            std::lock_guard lock(g_queue_mutex);
            g_new_errors.push_back(q);
            g_queue_cv.notify_all();
        }
    } else {
        PyErr_Clear();
        write_stderr("pxkit: exception in " + where + " (could not be queued)\n");
    }
    clear_outcome(out);
}

// Main thread, outside any MainHeapTurn (a call takes its own): runs or refuses the queued
// main-thread calls, oldest first.
void service_calls(bool refuse) {
    for (;;) {
        PendingCall* c = nullptr;
        {
            std::lock_guard lock(g_queue_mutex);
            if (g_calls.empty())
                return;
            c = g_calls.front();
            g_calls.pop_front();
        }
        if (refuse)
            c->refusal = "the server is shutting down";
        else
            (*c->fn)();
        std::lock_guard lock(g_queue_mutex);
        c->done = true;
        g_calls_done_cv.notify_all();
    }
}

void accept_calls(bool accept, const char* refusal) {
    std::lock_guard lock(g_queue_mutex);
    g_accepting_calls = accept;
    g_calls_refusal = refusal;
}

// Main thread, inside a MainHeapTurn: log what the workers queued, keep it for run_once().
void log_new_errors() {
    std::deque<QueuedError*> fresh;
    {
        std::lock_guard lock(g_queue_mutex);
        fresh.swap(g_new_errors);
    }
    for (QueuedError* q : fresh) {
        std::string text = "pxkit: exception in " + q->where + ":\n";
        PyObject* body = q->error.text ? q->error.text : q->error.fallback;
        const char* utf8 = body ? PyUnicode_AsUTF8(body) : nullptr;
        if (utf8 == nullptr) {
            PyErr_Clear();
            utf8 = "(no description)\n";
        }
        text += utf8;
        if (text.back() != '\n')
            text += '\n';
        write_stderr(text);
        g_kept_errors.push_back(q);
        if (g_kept_errors.size() > kKeptErrors) {
            g_kept_errors.front()->error.clear();
            delete g_kept_errors.front();
            g_kept_errors.pop_front();
        }
    }
}

// ---- heap memory of the connections --------------------------------------------------------

// Each connection publishes its heap's figures at the end of each callback (its own thread
// reads its own heap); stats() sums what is published. Relaxed: these are statistics.
struct MemoryTotals {
    std::atomic<long long> heaps{0};
    std::atomic<long long> bytes_held{0};
    std::atomic<long long> chunk_bytes{0};
    std::atomic<long long> chunks{0};
    std::atomic<unsigned long long> high_water{0};         // the largest of any connection heap
    std::atomic<long long> session_bytes{0};               // what the session heaps hold
    std::atomic<unsigned long long> session_high_water{0}; // the largest of any session heap
};

void raise_to(std::atomic<unsigned long long>& most, unsigned long long value) {
    unsigned long long seen = most.load(std::memory_order_relaxed);
    while (value > seen && !most.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
    }
}
MemoryTotals g_memory;

// ---- worker threads ----------------------------------------------------------------------------

thread_local PyThreadState* t_tstate = nullptr;

// The connection's context is entered by the runtime; this passes the gate and swaps the
// worker's thread state in for one callback, and clears it before the runtime's rewind.
class CallbackScope {
public:
    CallbackScope() {
        g_gate.enter();
        PyThreadState_Swap(t_tstate);
    }
    ~CallbackScope() {
        clear_thread_state(t_tstate);
        PyThreadState_Swap(nullptr);
        g_gate.exit();
    }
    CallbackScope(const CallbackScope&) = delete;
    CallbackScope& operator=(const CallbackScope&) = delete;

private:
    CallbackEpoch epoch_; // ends after the thread state is cleared
};

// ---- parallel.Transport
// --------------------------------------------------------------------------

struct TransportObject {
    PyObject_HEAD Transport* conn; // null once the connection has ended
};

PyTypeObject* g_transport_type = nullptr; // parallel.Transport (a heap type)

// The connection behind `self`, usable only from that connection's callbacks.
Transport* live(PyObject* self, const char* what) {
    Transport* t = reinterpret_cast<TransportObject*>(self)->conn;
    if (t == nullptr) {
        PyErr_Format(PyExc_RuntimeError, "transport.%s(): the connection has ended", what);
        return nullptr;
    }
    if (current_context() != &t->context()) {
        PyErr_Format(PyExc_RuntimeError,
                     "transport.%s() may be called only from its own connection's callbacks", what);
        return nullptr;
    }
    return t;
}

// Queues a callback's result: bytes, bytearray, str (UTF-8), memoryview or None.
bool send_result(Transport& t, PyObject* result, const char* callback) {
    if (result == Py_None)
        return true;
    if (PyBytes_Check(result))
        return t.send({PyBytes_AS_STRING(result),
                       static_cast<std::size_t>(PyBytes_GET_SIZE(result))}) ||
               (PyErr_NoMemory(), false);
    if (PyByteArray_Check(result))
        return t.send({PyByteArray_AS_STRING(result),
                       static_cast<std::size_t>(PyByteArray_GET_SIZE(result))}) ||
               (PyErr_NoMemory(), false);
    if (PyUnicode_Check(result)) {
        Py_ssize_t n = 0;
        const char* s = PyUnicode_AsUTF8AndSize(result, &n);
        if (s == nullptr)
            return false;
        return t.send({s, static_cast<std::size_t>(n)}) || (PyErr_NoMemory(), false);
    }
    if (PyMemoryView_Check(result)) {
        Py_buffer view;
        if (PyObject_GetBuffer(result, &view, PyBUF_CONTIG_RO) < 0)
            return false;
        bool ok = t.send({static_cast<const char*>(view.buf), static_cast<std::size_t>(view.len)});
        PyBuffer_Release(&view);
        return ok || (PyErr_NoMemory(), false);
    }
    PyErr_Format(PyExc_TypeError,
                 "%s() must return bytes, bytearray, str, memoryview or None, not %.200s", callback,
                 Py_TYPE(result)->tp_name);
    return false;
}

PyObject* transport_peer(PyObject* self, void*) {
    Transport* t = live(self, "peer");
    if (t == nullptr)
        return nullptr;
    return Py_BuildValue("(sH)", t->peer().host.c_str(), t->peer().port);
}

PyObject* transport_close(PyObject* self, PyObject*) {
    Transport* t = live(self, "close");
    if (t == nullptr)
        return nullptr;
    t->close();
    Py_RETURN_NONE;
}

PyObject* transport_send(PyObject* self, PyObject* data) {
    Transport* t = live(self, "send");
    if (t == nullptr)
        return nullptr;
    if (data == Py_None) {
        PyErr_SetString(PyExc_TypeError,
                        "transport.send() takes bytes, bytearray, str or memoryview");
        return nullptr;
    }
    if (!send_result(*t, data, "transport.send"))
        return nullptr;
    Py_RETURN_NONE;
}

PyObject* transport_sendfile(PyObject* self, PyObject* args, PyObject* kwargs) {
    static const char* keywords[] = {"path", "offset", "count", nullptr};
    PyObject* path = nullptr;
    long long offset = 0;
    PyObject* count_obj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&|LO:sendfile", const_cast<char**>(keywords),
                                     PyUnicode_FSConverter, &path, &offset, &count_obj))
        return nullptr;
    std::string file(PyBytes_AS_STRING(path), static_cast<std::size_t>(PyBytes_GET_SIZE(path)));
    Py_DECREF(path);
    Transport* t = live(self, "sendfile");
    if (t == nullptr)
        return nullptr;
    if (offset < 0) {
        PyErr_SetString(PyExc_ValueError, "transport.sendfile(): offset must be >= 0");
        return nullptr;
    }
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, file.c_str());
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int err = errno;
        ::close(fd);
        if (S_ISREG(st.st_mode) || err != 0) {
            errno = err != 0 ? err : EINVAL;
            return PyErr_SetFromErrnoWithFilename(PyExc_OSError, file.c_str());
        }
        PyErr_Format(PyExc_ValueError, "transport.sendfile(): %s is not a regular file",
                     file.c_str());
        return nullptr;
    }
    auto size = static_cast<unsigned long long>(st.st_size);
    unsigned long long first = static_cast<unsigned long long>(offset);
    unsigned long long count = first < size ? size - first : 0;
    if (count_obj != Py_None) {
        long long c = PyLong_AsLongLong(count_obj);
        if (c == -1 && PyErr_Occurred()) {
            ::close(fd);
            return nullptr;
        }
        if (c < 0 || first + static_cast<unsigned long long>(c) > size) {
            ::close(fd);
            PyErr_Format(PyExc_ValueError,
                         "transport.sendfile(): offset %lld + count %lld is past the end of %s "
                         "(%llu bytes)",
                         offset, c, file.c_str(), size);
            return nullptr;
        }
        count = static_cast<unsigned long long>(c);
    }
    bool queued = count == 0 || t->sendfile(fd, first, count);
    ::close(fd); // the transport keeps a dup
    if (!queued)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

PyMethodDef g_transport_methods[] = {
    {"close", transport_close, METH_NOARGS,
     "close(): end the connection once what is queued has been sent."},
    {"send", transport_send, METH_O,
     "send(data): queue bytes (bytes, bytearray, str, memoryview)."},
    {"sendfile", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(transport_sendfile)),
     METH_VARARGS | METH_KEYWORDS,
     "sendfile(path, offset=0, count=None): queue file bytes, sent zero-copy."},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef g_transport_getset[] = {
    {"peer", transport_peer, nullptr, "(host, port) of the client", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

// ---- parallel.Server
// ---------------------------------------------------------------------------------

struct ServerEntry;

struct ServerObject {
    PyObject_HEAD ServerEntry* entry;
};

struct ServerEntry {
    std::string host;
    std::uint16_t port = 0;
    unsigned workers = 0;
    std::unique_ptr<runtime::Server> server;
    PyObject* protocol = nullptr; // the registered class (main-owned, a strong reference)
    bool http = false;            // protocol has _px_request(): the HTTP layer parses
    std::thread thread;           // runs server->run() once run() started it
    std::atomic<bool> finished{false};
    std::mutex ids_mutex;
    std::vector<long> thread_ids; // the workers' kernel thread ids
};

PyTypeObject* g_server_type = nullptr; // parallel.Server (a heap type)

std::vector<ServerObject*> g_registered; // strong references; main thread only
bool g_running = false;                  // run()/run_once() on the stack (main thread)
std::chrono::steady_clock::time_point g_started{};

// One connection's Python side. Made on the worker inside the connection's context.
class PyConnection final : public runtime::Protocol {
public:
    PyConnection(ServerEntry& entry, std::unique_ptr<runtime::Protocol> http)
        : entry_(entry), http_(std::move(http)) {}

    void connection_made(Transport& t) override {
        CallbackScope scope;
        context_ = &t.context(); // PX_DEALLOC objects its callbacks make are tracked here
        context_->deallocs = &deallocs_.emplace(*context_->heap);
        if (!create(t)) {
            report_failure("creating the protocol instance for " + peer(t));
            t.close();
            return;
        }
        if (http_) {
            Current current(this);
            http_->connection_made(t);
        } else {
            call(t, "connection_made", nullptr, true);
        }
        publish(t, false);
    }

    void data_received(Transport& t, std::string_view data) override {
        CallbackScope scope;
        if (instance_ == nullptr)
            return; // creating it failed; the connection is closing
        if (http_) {
            Current current(this);
            http_->data_received(t, data);
        } else if (PyObject* bytes = PyBytes_FromStringAndSize(
                       data.data(), static_cast<Py_ssize_t>(data.size()))) {
            call(t, "data_received", bytes, false);
            Py_DECREF(bytes);
        } else {
            report_failure("data_received() of " + peer(t));
            t.close();
        }
        publish(t, false);
    }

    void timed_out(Transport& t) override { // no Python here: no gate, no thread state
        if (http_)
            http_->timed_out(t);
        else
            t.close();
    }

    void connection_lost(Transport& t, std::error_code ec) override {
        CallbackScope scope;
        if (http_) {
            Current current(this);
            http_->connection_lost(t, ec);
        } else if (instance_ != nullptr) {
            PyObject* exc = Py_None;
            if (ec)
                exc = PyObject_CallFunction(PyExc_ConnectionError, "is", ec.value(),
                                            ec.message().c_str());
            if (exc != nullptr) {
                call(t, "connection_lost", exc, true);
                if (exc != Py_None)
                    Py_DECREF(exc);
            } else {
                report_failure("connection_lost() of " + peer(t));
            }
        }
        release(t);
        publish(t, true);
    }

    ~PyConnection() override {
        if (context_ != nullptr)
            context_->deallocs = nullptr; // deallocs_ goes now; it has run what it tracked
        if (instance_ != nullptr || transport_ != nullptr)
            write_stderr("pxkit: a connection ended without connection_lost(); its protocol "
                         "instance is leaked\n");
    }

    // The HTTP layer's handler, called from inside http_->data_received().
    static HttpResponse handle(const HttpRequest& request, Transport& t);

private:
    // The connection whose HTTP callback runs on this thread (the handler has no other way
    // to find its instance).
    static thread_local PyConnection* t_current;
    struct Current {
        explicit Current(PyConnection* c) : saved(t_current) { t_current = c; }
        ~Current() { t_current = saved; }
        PyConnection* saved;
    };

    static std::string peer(Transport& t) {
        return t.peer().host + ":" + std::to_string(t.peer().port);
    }

    // The transport object on the main heap (a section); the instance in the connection's
    // session heap, where what a callback stores on it is kept (cloned) until the end.
    bool create(Transport& t) {
        if (!PxInterp_main_heap_enter())
            return false;
        auto* tobj = PyObject_New(TransportObject, g_transport_type);
        if (tobj != nullptr) {
            tobj->conn = &t;
            transport_ = reinterpret_cast<PyObject*>(tobj);
        }
        PxInterp_main_heap_exit();
        if (transport_ == nullptr || !px::interp::enter_heap(t.session_heap()))
            return false;
        instance_ = PyObject_CallNoArgs(entry_.protocol);
        px::interp::exit_heap();
        return instance_ != nullptr;
    }

    // Before the session heap goes: the instance is released there (its deallocation and
    // that of what it kept run now, each exactly once).
    void release(Transport& t) {
        if (transport_ != nullptr)
            reinterpret_cast<TransportObject*>(transport_)->conn = nullptr;
        if (instance_ != nullptr) {
            if (px::interp::enter_heap(t.session_heap())) {
                Py_CLEAR(instance_);
                px::interp::exit_heap();
            } else {
                PyErr_Clear(); // cannot happen: scopes are not nested here
            }
        }
        if (transport_ != nullptr) {
            if (PxInterp_main_heap_enter()) {
                Py_CLEAR(transport_);
                PxInterp_main_heap_exit();
            } else {
                PyErr_Clear(); // cannot happen inside the gate; leak rather than free wrongly
            }
        }
    }

    // instance.name(transport[, arg]); the result is sent. A missing optional method is
    // skipped. An exception is queued and closes the connection.
    void call(Transport& t, const char* name, PyObject* arg, bool optional) {
        PyObject* method = PyObject_GetAttrString(instance_, name);
        if (method == nullptr) {
            if (optional && PyErr_ExceptionMatches(PyExc_AttributeError)) {
                PyErr_Clear();
                return;
            }
            report_failure(std::string(name) + "() of " + peer(t));
            t.close();
            return;
        }
        PyObject* result = arg ? PyObject_CallFunctionObjArgs(method, transport_, arg, nullptr)
                               : PyObject_CallOneArg(method, transport_);
        Py_DECREF(method);
        if (result == nullptr || !send_result(t, result, name)) {
            report_failure(std::string(name) + "() of " + peer(t));
            t.close();
        }
        Py_XDECREF(result);
    }

    // The heap's figures into g_memory (deltas against what this connection published).
    void publish(Transport& t, bool last) {
        long long held = 0, chunk_bytes = 0, chunks = 0;
        if (!last && t.context().heap != nullptr) {
            px::HeapStats st = t.context().heap->stats();
            held = static_cast<long long>(st.bytes_held);
            chunk_bytes = static_cast<long long>(st.chunk_bytes);
            chunks = static_cast<long long>(st.chunks);
            raise_to(g_memory.high_water, st.high_water);
        }
        long long session = 0;
        if (!last && t.context().session != nullptr) {
            px::HeapStats st = t.context().session->stats();
            session = static_cast<long long>(st.bytes_held);
            raise_to(g_memory.session_high_water, st.high_water);
        }
        g_memory.session_bytes.fetch_add(session - session_, std::memory_order_relaxed);
        session_ = session;
        if (!published_ && !last)
            g_memory.heaps.fetch_add(1, std::memory_order_relaxed);
        if (published_ && last)
            g_memory.heaps.fetch_sub(1, std::memory_order_relaxed);
        published_ = !last;
        g_memory.bytes_held.fetch_add(held - held_, std::memory_order_relaxed);
        g_memory.chunk_bytes.fetch_add(chunk_bytes - chunk_bytes_, std::memory_order_relaxed);
        g_memory.chunks.fetch_add(chunks - chunks_, std::memory_order_relaxed);
        held_ = held;
        chunk_bytes_ = chunk_bytes;
        chunks_ = chunks;
    }

    ServerEntry& entry_;
    std::unique_ptr<runtime::Protocol> http_;
    PxContext* context_ = nullptr;
    std::optional<px::DeallocList> deallocs_;
    PyObject* instance_ = nullptr;
    PyObject* transport_ = nullptr;
    bool published_ = false;
    long long held_ = 0, chunk_bytes_ = 0, chunks_ = 0, session_ = 0;
};

thread_local PyConnection* PyConnection::t_current = nullptr;

// instance._px_request(method, path, query, headers, body, version) returns
// (status, headers, body): body is bytes, or a str path when status is None (a file, sent
// with the request's Range honoured).
HttpResponse PyConnection::handle(const HttpRequest& request, Transport& t) {
    PyConnection* c = t_current;
    auto fail = [&](const char* where) {
        report_failure(std::string(where) + " for " + request.method + " " + request.target +
                       " from " + peer(t));
        t.count_error();
        return HttpResponse::text(500, "internal server error\n");
    };
    if (c == nullptr || c->instance_ == nullptr)
        return HttpResponse::text(500, "internal server error\n");
    // The target must be UTF-8 (clients percent-encode anything else): 400 otherwise. Header
    // names and values are Latin-1, as HTTP defines them, so any byte is accepted there.
    auto latin1 = [](const std::string& v) {
        return PyUnicode_DecodeLatin1(v.data(), static_cast<Py_ssize_t>(v.size()), nullptr);
    };
    PyObject* path = PyUnicode_DecodeUTF8(request.path.data(),
                                          static_cast<Py_ssize_t>(request.path.size()), nullptr);
    PyObject* query =
        path ? PyUnicode_DecodeUTF8(request.query.data(),
                                    static_cast<Py_ssize_t>(request.query.size()), nullptr)
             : nullptr;
    if (query == nullptr) {
        Py_XDECREF(path);
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
            return fail("the request");
        PyErr_Clear();
        t.count_error();
        return HttpResponse::text(400, "the request target is not UTF-8; percent-encode it\n");
    }
    PyObject* headers = PyList_New(static_cast<Py_ssize_t>(request.headers.size()));
    for (std::size_t i = 0; headers != nullptr && i < request.headers.size(); ++i) {
        PyObject* name = latin1(request.headers[i].name);
        PyObject* value = name ? latin1(request.headers[i].value) : nullptr;
        PyObject* pair = value ? PyTuple_Pack(2, name, value) : nullptr;
        Py_XDECREF(name);
        Py_XDECREF(value);
        if (pair == nullptr)
            Py_CLEAR(headers);
        else
            PyList_SET_ITEM(headers, static_cast<Py_ssize_t>(i), pair);
    }
    PyObject* result = nullptr;
    if (headers != nullptr)
        result = PyObject_CallMethod(c->instance_, "_px_request", "s#OOOy#I", request.method.data(),
                                     static_cast<Py_ssize_t>(request.method.size()), path, query,
                                     headers, request.body.data(),
                                     static_cast<Py_ssize_t>(request.body.size()), request.version);
    Py_DECREF(path);
    Py_DECREF(query);
    Py_XDECREF(headers);
    if (result == nullptr)
        return fail("the route");
    HttpResponse response;
    PyObject *status, *out_headers, *body;
    if (!PyTuple_Check(result) || PyTuple_GET_SIZE(result) != 3) {
        Py_DECREF(result);
        PyErr_SetString(PyExc_TypeError, "_px_request() must return (status, headers, body)");
        return fail("the route");
    }
    status = PyTuple_GET_ITEM(result, 0);
    out_headers = PyTuple_GET_ITEM(result, 1);
    body = PyTuple_GET_ITEM(result, 2);
    std::string content_type = "application/octet-stream";
    PyObject* seq = PySequence_Fast(out_headers, "_px_request(): headers must be a sequence");
    if (seq == nullptr) {
        Py_DECREF(result);
        return fail("the route");
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); ++i) {
        // Latin-1 on the wire, as the request's fields were decoded; CR and LF are refused
        // (they would split the header).
        PyObject *name = nullptr, *value = nullptr;
        PyObject* raw_name = nullptr;
        PyObject* raw_value = nullptr;
        if (PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "UU;a header must be (str, str)",
                             &name, &value)) {
            raw_name = PyUnicode_AsLatin1String(name);
            raw_value = raw_name ? PyUnicode_AsLatin1String(value) : nullptr;
        }
        if (raw_value != nullptr) {
            std::string n(PyBytes_AS_STRING(raw_name),
                          static_cast<std::size_t>(PyBytes_GET_SIZE(raw_name)));
            std::string v(PyBytes_AS_STRING(raw_value),
                          static_cast<std::size_t>(PyBytes_GET_SIZE(raw_value)));
            if (n.find_first_of("\r\n:") != std::string::npos || n.empty() ||
                v.find_first_of("\r\n") != std::string::npos) {
                PyErr_Format(PyExc_ValueError, "response header %R: %R is not a valid field", name,
                             value);
                Py_CLEAR(raw_value);
            } else {
                if (strcasecmp(n.c_str(), "Content-Type") == 0)
                    content_type = v;
                response.headers.push_back({std::move(n), std::move(v)});
            }
        }
        Py_XDECREF(raw_name);
        if (raw_value == nullptr) {
            Py_DECREF(seq);
            Py_DECREF(result);
            return fail("the route");
        }
        Py_DECREF(raw_value);
    }
    Py_DECREF(seq);
    if (status == Py_None) { // a file, or (path, offset, count): a slice of one
        const char* path = nullptr;
        unsigned long long offset = 0;
        long long count = -1;
        if (PyUnicode_Check(body))
            path = PyUnicode_AsUTF8(body);
        else if (!PyArg_ParseTuple(body, "sKL;a file body is a path or (path, offset, count)",
                                   &path, &offset, &count))
            path = nullptr;
        if (path == nullptr) {
            Py_DECREF(result);
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "_px_request(): a file body must be a str path");
            return fail("the route");
        }
        runtime::FileSlice slice{offset, std::nullopt}; // count < 0: to the end of the file
        if (count >= 0)
            slice.count = static_cast<std::uint64_t>(count);
        HttpResponse file = runtime::file_response(request, path, content_type, slice);
        for (auto& h : response.headers) // file_response() set the Content-Type already
            if (strcasecmp(h.name.c_str(), "Content-Type") != 0)
                file.headers.push_back(std::move(h));
        Py_DECREF(result);
        return file;
    }
    long code = PyLong_AsLong(status);
    if ((code == -1 && PyErr_Occurred()) || code < 100 || code > 999) {
        Py_DECREF(result);
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_ValueError, "HTTP status %ld is out of range", code);
        return fail("the route");
    }
    response.status = static_cast<unsigned>(code);
    char* data = nullptr;
    Py_ssize_t size = 0;
    if (PyBytes_AsStringAndSize(body, &data, &size) < 0) {
        Py_DECREF(result);
        return fail("the route");
    }
    response.body.assign(data, static_cast<std::size_t>(size));
    Py_DECREF(result);
    return response;
}

// ---- worker thread hooks
// -------------------------------------------------------------------------

void worker_started(ServerEntry& entry) {
    t_tstate = new_worker_thread_state();
    std::lock_guard lock(entry.ids_mutex);
    entry.thread_ids.push_back(static_cast<long>(syscall(SYS_gettid)));
}

void worker_stopped() {
    delete_worker_thread_state(t_tstate);
    t_tstate = nullptr;
}

// ---- module functions
// ----------------------------------------------------------------------------

bool check_main(const char* what) {
    if (in_parallel_context()) {
        PyErr_Format(PyExc_RuntimeError, "parallel.%s() cannot be called from a parallel context",
                     what);
        return false;
    }
    if (!is_main_thread()) {
        PyErr_Format(PyExc_RuntimeError, "parallel.%s() must be called from the main thread", what);
        return false;
    }
    return true;
}


PyObject* server_port(PyObject* self, void*) {
    return PyLong_FromUnsignedLong(reinterpret_cast<ServerObject*>(self)->entry->port);
}
PyObject* server_host(PyObject* self, void*) {
    return PyUnicode_FromString(reinterpret_cast<ServerObject*>(self)->entry->host.c_str());
}
PyObject* server_workers(PyObject* self, void*) {
    return PyLong_FromUnsignedLong(reinterpret_cast<ServerObject*>(self)->entry->workers);
}
PyObject* server_repr(PyObject* self) {
    ServerEntry* e = reinterpret_cast<ServerObject*>(self)->entry;
    return PyUnicode_FromFormat("<parallel.Server %s:%u, %u workers%s>", e->host.c_str(),
                                static_cast<unsigned>(e->port), e->workers,
                                e->finished ? ", stopped" : "");
}

void server_dealloc(PyObject* self) {
    ServerEntry* e = reinterpret_cast<ServerObject*>(self)->entry;
    if (e != nullptr) {
        // Never registered or run, or run and joined: nothing runs on it any more.
        Py_CLEAR(e->protocol);
        delete e;
    }
    PyTypeObject* type = Py_TYPE(self);
    type->tp_free(self);
    Py_DECREF(type);
}

void transport_dealloc(PyObject* self) {
    PyTypeObject* type = Py_TYPE(self);
    type->tp_free(self);
    Py_DECREF(type);
}

PyGetSetDef g_server_getset[] = {{"port", server_port, nullptr, "the bound port", nullptr},
                                 {"host", server_host, nullptr, "the bound address", nullptr},
                                 {"workers", server_workers, nullptr, "worker threads", nullptr},
                                 {nullptr, nullptr, nullptr, nullptr, nullptr}};

bool parse_positive(PyObject* obj, const char* name, unsigned* out, unsigned max) {
    if (obj == nullptr || obj == Py_None)
        return true;
    long v = PyLong_AsLong(obj);
    if (v == -1 && PyErr_Occurred())
        return false;
    if (v < 1 || static_cast<unsigned long>(v) > max) {
        PyErr_Format(PyExc_ValueError, "parallel.server(): %s must be between 1 and %u, got %ld",
                     name, max, v);
        return false;
    }
    *out = static_cast<unsigned>(v);
    return true;
}

} // namespace

bool init_server_types(PyObject* module) {
    static PyType_Slot transport_slots[] = {
        {Py_tp_doc, const_cast<char*>("A connection, as its protocol callbacks see it.")},
        {Py_tp_methods, g_transport_methods},
        {Py_tp_getset, g_transport_getset},
        {Py_tp_dealloc, reinterpret_cast<void*>(transport_dealloc)},
        {0, nullptr}};
    static PyType_Spec transport_spec = {"parallel.Transport", sizeof(TransportObject), 0,
                                         Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
                                         transport_slots};
    static PyType_Slot server_slots[] = {
        {Py_tp_doc, const_cast<char*>("A listening socket; parallel.server() makes one.")},
        {Py_tp_getset, g_server_getset},
        {Py_tp_repr, reinterpret_cast<void*>(server_repr)},
        {Py_tp_dealloc, reinterpret_cast<void*>(server_dealloc)},
        {0, nullptr}};
    static PyType_Spec server_spec = {"parallel.Server", sizeof(ServerObject), 0,
                                      Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
                                      server_slots};
    g_transport_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&transport_spec));
    g_server_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&server_spec));
    if (g_transport_type == nullptr || g_server_type == nullptr)
        return false;
    // The module keeps its own references; these two stay for the process.
    Py_INCREF(g_transport_type);
    Py_INCREF(g_server_type);
    return PyModule_AddObject(module, "Transport", reinterpret_cast<PyObject*>(g_transport_type)) ==
               0 &&
           PyModule_AddObject(module, "Server", reinterpret_cast<PyObject*>(g_server_type)) == 0;
}

PyObject* server(PyObject*, PyObject* args, PyObject* kwargs) {
    static const char* keywords[] = {"host", "port", "workers", nullptr};
    const char* host = "127.0.0.1";
    int port = 8080;
    PyObject* workers_obj = nullptr;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|si$O:server", const_cast<char**>(keywords),
                                     &host, &port, &workers_obj))
        return nullptr;
    if (!check_main("server"))
        return nullptr;
    if (port < 0 || port > 65535) {
        PyErr_Format(PyExc_ValueError, "parallel.server(): port must be 0..65535, got %d", port);
        return nullptr;
    }
    unsigned workers = runtime::cpu_count();
    if (!parse_positive(workers_obj, "workers", &workers, 1024))
        return nullptr;
    auto* obj = PyObject_New(ServerObject, g_server_type);
    if (obj == nullptr)
        return nullptr;
    obj->entry = new ServerEntry;
    ServerEntry& e = *obj->entry;
    runtime::ServerOptions options;
    options.host = host;
    options.port = static_cast<std::uint16_t>(port);
    options.workers = workers;
    if (!context_heap_options(options.heap)) {
        Py_DECREF(obj);
        return nullptr;
    }
    options.thread_start = [&e](unsigned) { worker_started(e); };
    options.thread_stop = [](unsigned) { worker_stopped(); };
    // The factory runs on a worker for each connection; it reads e.http, fixed by register()
    // before run() starts the server.
    auto http_factory = runtime::http_protocol(&PyConnection::handle);
    runtime::ProtocolFactory factory = [&e, http_factory]() -> std::unique_ptr<runtime::Protocol> {
        return std::make_unique<PyConnection>(e, e.http ? http_factory() : nullptr);
    };
    try {
        e.server = std::make_unique<runtime::Server>(std::move(options), std::move(factory));
    } catch (const std::system_error& err) {
        Py_DECREF(obj);
        errno = err.code().value();
        PyErr_Format(PyExc_OSError, "parallel.server(%s, %d): %s", host, port, err.what());
        return nullptr;
    } catch (const std::exception& err) {
        Py_DECREF(obj);
        PyErr_Format(PyExc_RuntimeError, "parallel.server(%s, %d): %s", host, port, err.what());
        return nullptr;
    }
    e.host = host;
    e.port = e.server->port();
    e.workers = e.server->workers();
    return reinterpret_cast<PyObject*>(obj);
}

PyObject* register_protocol(PyObject*, PyObject* args, PyObject* kwargs) {
    static const char* keywords[] = {"transport", "protocol", nullptr};
    PyObject* transport = nullptr;
    PyObject* protocol = nullptr;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O:register", const_cast<char**>(keywords),
                                     g_server_type, &transport, &protocol))
        return nullptr;
    if (!check_main("register"))
        return nullptr;
    ServerEntry& e = *reinterpret_cast<ServerObject*>(transport)->entry;
    if (!PyType_Check(protocol)) {
        PyErr_Format(PyExc_TypeError,
                     "parallel.register(): protocol must be a class (one instance is made per "
                     "connection), not %.200s",
                     Py_TYPE(protocol)->tp_name);
        return nullptr;
    }
    if (e.protocol != nullptr || e.finished) {
        PyErr_SetString(PyExc_RuntimeError,
                        "parallel.register(): this server already has a protocol; make another "
                        "with parallel.server()");
        return nullptr;
    }
    int http = PyObject_HasAttrString(protocol, "_px_request");
    if (!http) {
        for (const char* name : {"data_received"}) {
            if (!PyObject_HasAttrString(protocol, name)) {
                PyErr_Format(PyExc_TypeError,
                             "parallel.register(): %.200s has no %s(self, transport, data) method",
                             reinterpret_cast<PyTypeObject*>(protocol)->tp_name, name);
                return nullptr;
            }
        }
    }
    e.http = http != 0;
    e.protocol = Py_NewRef(protocol);
    Py_INCREF(transport);
    g_registered.push_back(reinterpret_cast<ServerObject*>(transport));
    Py_RETURN_NONE;
}

PyObject* stop(PyObject*, PyObject*) {
    g_stop_requested = true; // any thread, a context included
    wake_main();
    Py_RETURN_NONE;
}

namespace {

extern "C" void on_sigterm(int) { g_sigterm = 1; }

// Starts every registered server that is not running yet, each on a thread of its own that
// blocks asynchronous signals (they stay with the main thread).
bool start_servers() {
    sigset_t all, old;
    sigfillset(&all);
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS})
        sigdelset(&all, sig);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    bool ok = true;
    for (ServerObject* s : g_registered) {
        ServerEntry& e = *s->entry;
        if (e.thread.joinable() || e.finished)
            continue;
        try {
            e.thread = std::thread([&e] {
                e.server->run();
                e.finished = true;
                wake_main();
            });
        } catch (const std::exception& err) {
            PyErr_Format(PyExc_RuntimeError, "parallel.run(): cannot start a server thread: %s",
                         err.what());
            ok = false;
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return ok;
}

// Stops every server, waits for their threads; main parked meanwhile (callbacks finish).
void stop_and_join_servers() {
    for (ServerObject* s : g_registered)
        s->entry->server->stop();
    for (ServerObject* s : g_registered) {
        ServerEntry& e = *s->entry;
        while (e.thread.joinable() && !e.finished) {
            std::unique_lock lock(g_queue_mutex);
            g_queue_cv.wait_for(lock, std::chrono::milliseconds(20));
            lock.unlock();
            service_calls(true);
            MainHeapTurn turn;
            log_new_errors();
        }
        if (e.thread.joinable())
            e.thread.join();
    }
    MainHeapTurn turn;
    log_new_errors();
    for (ServerObject* s : g_registered)
        Py_DECREF(s);
    g_registered.clear();
}

// The main loop of run() (timeout < 0) and run_once(). Returns false with an exception set
// when a signal handler raised something other than KeyboardInterrupt (servers stopped).
bool serve(double timeout) {
    if (g_registered.empty()) {
        PyErr_SetString(PyExc_RuntimeError,
                        "nothing to run: make a server and register a protocol first, e.g. "
                        "parallel.register(transport=parallel.server('127.0.0.1', 8080), "
                        "protocol=MyProtocol)");
        return false;
    }
    if (g_started == std::chrono::steady_clock::time_point{})
        g_started = std::chrono::steady_clock::now();
    struct sigaction term_old {};
    bool term_installed = false;
    if (sigaction(SIGTERM, nullptr, &term_old) == 0 && term_old.sa_handler == SIG_DFL) {
        struct sigaction sa {};
        sa.sa_handler = on_sigterm;
        sigemptyset(&sa.sa_mask);
        term_installed = sigaction(SIGTERM, &sa, nullptr) == 0;
    }
    const int gc_was_enabled = PyGC_Disable();
    g_running = true;
    park_main();
    accept_calls(true, nullptr);
    g_gate.open();
    bool ok = start_servers();
    PyObject* interrupt = nullptr;
    bool stopping = !ok;
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(timeout < 0 ? 0 : timeout));
    while (!stopping) {
        {
            std::unique_lock lock(g_queue_mutex);
            auto tick = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
            if (timeout >= 0 && deadline < tick)
                tick = deadline;
            g_queue_cv.wait_until(lock, tick, [] {
                return !g_new_errors.empty() || !g_calls.empty() || g_stop_requested.load();
            });
        }
        service_calls(false);
        MainHeapTurn turn;
        release_retired();
        log_new_errors();
        if (PyErr_CheckSignals() < 0) {
            if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
                PyErr_Clear(); // Ctrl-C: a graceful stop
            } else {
                interrupt = take_exception();
            }
            stopping = true;
        }
        if (g_sigterm || g_stop_requested)
            stopping = true;
        bool all_finished = true;
        for (ServerObject* s : g_registered)
            all_finished = all_finished && s->entry->finished;
        if (all_finished)
            stopping = true;
        if (!stopping && timeout >= 0 && std::chrono::steady_clock::now() >= deadline)
            break;
    }
    if (stopping) {
        accept_calls(false, "the server is shutting down");
        service_calls(true);
        stop_and_join_servers();
        g_stop_requested = false;
        g_sigterm = 0;
    }
    accept_calls(false, "the main thread is not waiting in parallel.run()");
    service_calls(true);
    g_gate.close();
    unpark_main();
    release_retired(); // no callback runs now
    g_running = false;
    if (gc_was_enabled)
        PyGC_Enable();
    if (term_installed)
        sigaction(SIGTERM, &term_old, nullptr);
    if (interrupt != nullptr) {
        PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(interrupt)), interrupt);
        Py_DECREF(interrupt);
        return false;
    }
    return ok;
}

} // namespace

PyObject* run(PyObject*, PyObject*) {
    if (!check_main("run") || !check_contexts_can_start("run"))
        return nullptr;
    if (g_running) {
        PyErr_SetString(PyExc_RuntimeError, "parallel.run() is running already");
        return nullptr;
    }
    if (!serve(-1.0))
        return nullptr;
    Py_RETURN_NONE;
}

PyObject* run_once(PyObject*, PyObject* args, PyObject* kwargs) {
    static const char* keywords[] = {"timeout", nullptr};
    double timeout = 0.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|d:run_once", const_cast<char**>(keywords),
                                     &timeout))
        return nullptr;
    if (!check_main("run_once") || !check_contexts_can_start("run_once"))
        return nullptr;
    if (g_running) {
        PyErr_SetString(PyExc_RuntimeError, "parallel.run_once() called while parallel.run() runs");
        return nullptr;
    }
    if (timeout < 0 || timeout != timeout) {
        PyErr_SetString(PyExc_ValueError, "parallel.run_once(): timeout must be >= 0 seconds");
        return nullptr;
    }
    if (!g_registered.empty() && !serve(timeout))
        return nullptr;
    if (!g_kept_errors.empty()) { // the oldest callback exception
        QueuedError* q = g_kept_errors.front();
        g_kept_errors.pop_front();
        PyObject* exc = build_exception(q->error);
        q->error.clear();
        delete q;
        if (exc == nullptr)
            return nullptr;
        PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc)), exc);
        Py_DECREF(exc);
        return nullptr;
    }
    Py_RETURN_NONE;
}

bool server_call_on_main(const std::function<void()>& fn, const char** refusal) {
    PendingCall call{&fn};
    std::unique_lock lock(g_queue_mutex);
    if (!g_accepting_calls) {
        *refusal = g_calls_refusal;
        return false;
    }
    g_calls.push_back(&call);
    g_queue_cv.notify_all();
    g_calls_done_cv.wait(lock, [&] { return call.done; });
    if (call.refusal != nullptr) {
        *refusal = call.refusal;
        return false;
    }
    return true;
}

void shutdown_servers() {
    if (g_registered.empty())
        return;
    // Servers run_once() started are still serving: let their callbacks finish while the
    // main thread is parked here, then close everything.
    park_main();
    g_gate.open();
    stop_and_join_servers();
    g_gate.close();
    unpark_main();
}

namespace {

// The thread ids of a server's workers, as a new list.
PyObject* thread_ids(ServerEntry& e) {
    std::lock_guard lock(e.ids_mutex);
    PyObject* ids = PyList_New(0);
    for (long id : e.thread_ids) {
        PyObject* v = ids != nullptr ? PyLong_FromLong(id) : nullptr;
        if (v == nullptr || PyList_Append(ids, v) < 0)
            Py_CLEAR(ids);
        Py_XDECREF(v);
    }
    return ids;
}

// One server's figures as parallel.stats()["servers"][i] shows them.
PyObject* server_dict(ServerEntry& e, const runtime::ServerStats& st) {
    PyObject* per_worker = PyList_New(0);
    for (const auto& w : st.workers) {
        PyObject* d = per_worker == nullptr
                          ? nullptr
                          : Py_BuildValue("{sKsKsKsK}", "total", (unsigned long long)w.total,
                                          "requests", (unsigned long long)w.requests, "bytes_sent",
                                          (unsigned long long)w.bytes_sent, "errors",
                                          (unsigned long long)w.errors);
        if (d == nullptr || PyList_Append(per_worker, d) < 0)
            Py_CLEAR(per_worker);
        Py_XDECREF(d);
    }
    PyObject* ids = thread_ids(e);
    PyObject* d = nullptr;
    if (ids != nullptr && per_worker != nullptr)
        d = Py_BuildValue(
            "{sssIsIsKsKsKsKsKsOsO}", "host", e.host.c_str(), "port", static_cast<unsigned>(e.port),
            "workers", e.workers, "connections", (unsigned long long)st.open, "connections_total",
            (unsigned long long)st.total, "requests", (unsigned long long)st.requests, "bytes_sent",
            (unsigned long long)st.bytes_sent, "errors", (unsigned long long)st.errors,
            "per_worker", per_worker, "thread_ids", ids);
    Py_XDECREF(ids);
    Py_XDECREF(per_worker);
    return d;
}

} // namespace

double server_elapsed() {
    if (g_started == std::chrono::steady_clock::time_point{})
        return 0.0;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - g_started).count();
}

} // namespace px::interp

namespace px::interp {

// parallel.stats(): the servers' counters summed, per server and per worker.
PyObject* stats(PyObject*, PyObject*) {
    runtime::ServerCounters sum;
    PyObject* servers = PyList_New(0);
    PyObject* threads = PyList_New(0);
    PyObject* per_worker = PyList_New(0);
    for (ServerObject* s : g_registered) {
        if (servers == nullptr || threads == nullptr || per_worker == nullptr)
            break;
        ServerEntry& e = *s->entry;
        runtime::ServerStats st = e.server->stats(); // one reading for the sums and the dict
        sum.open += st.open;
        sum.total += st.total;
        sum.requests += st.requests;
        sum.bytes_sent += st.bytes_sent;
        sum.errors += st.errors;
        for (const auto& w : st.workers) {
            // Connections are not pinned to a worker: per worker, what it ran.
            PyObject* c = Py_BuildValue("{sKsK}", "connections", (unsigned long long)w.total,
                                        "requests", (unsigned long long)w.requests);
            if (c == nullptr || PyList_Append(per_worker, c) < 0)
                Py_CLEAR(per_worker);
            Py_XDECREF(c);
            if (per_worker == nullptr)
                break;
        }
        PyObject* ids = thread_ids(e);
        Py_ssize_t end = PyList_GET_SIZE(threads);
        if (ids == nullptr || PyList_SetSlice(threads, end, end, ids) < 0) // appends them
            Py_CLEAR(threads);
        Py_XDECREF(ids);
        PyObject* d = server_dict(e, st);
        if (d == nullptr || PyList_Append(servers, d) < 0)
            Py_CLEAR(servers);
        Py_XDECREF(d);
    }
    const unsigned long long open = sum.open, total = sum.total, requests = sum.requests,
                             bytes = sum.bytes_sent, errors = sum.errors;
    PyObject* result = nullptr;
    if (servers != nullptr && threads != nullptr && per_worker != nullptr) {
        result = Py_BuildValue(
            "{s{sKsKsO}s{sKsKsKsKsKsKsK}s{sKsKsKsKsKsO}sdsO}", "contexts", "active", open, "total",
            total, "per_worker", per_worker, "memory", "heaps",
            static_cast<unsigned long long>(g_memory.heaps.load(std::memory_order_relaxed)),
            "heap_bytes",
            static_cast<unsigned long long>(g_memory.bytes_held.load(std::memory_order_relaxed)),
            "high_water", g_memory.high_water.load(std::memory_order_relaxed), "chunk_bytes",
            static_cast<unsigned long long>(g_memory.chunk_bytes.load(std::memory_order_relaxed)),
            "chunks",
            static_cast<unsigned long long>(g_memory.chunks.load(std::memory_order_relaxed)),
            "session_bytes",
            static_cast<unsigned long long>(g_memory.session_bytes.load(std::memory_order_relaxed)),
            "session_high_water", g_memory.session_high_water.load(std::memory_order_relaxed),
            "server", "connections", open, "connections_total", total, "requests", requests,
            "bytes_sent", bytes, "errors", errors, "servers", servers, "elapsed", server_elapsed(),
            "threads", threads);
    }
    Py_XDECREF(threads);
    Py_XDECREF(per_worker);
    Py_XDECREF(servers);
    return result;
}

} // namespace px::interp
