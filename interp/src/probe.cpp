// probe.cpp — test-only probes of the interpreter patches (see probe.h). Each starts one
// worker thread, does the smallest thing the patch is about, and returns what it observed as
// a dict for the Python test to assert on. The main thread keeps the GIL throughout: the
// worker never takes it, as a parallel context never does.
#include "probe.h"

#include <condition_variable>
#include <initializer_list>
#include <mutex>
#include <thread>

#include "px/guards.h"
#include "px/heap.h"

namespace px::interp {
namespace {

// A one-way flag a thread waits on (the main thread waits holding the GIL, on purpose).
class Flag {
public:
    void set() {
        std::lock_guard lock(m_);
        on_ = true;
        cv_.notify_all();
    }
    void wait() {
        std::unique_lock lock(m_);
        cv_.wait(lock, [this] { return on_; });
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    bool on_ = false;
};

PyObject* int_dict(std::initializer_list<std::pair<const char*, long>> items) {
    PyObject* d = PyDict_New();
    if (d == nullptr)
        return nullptr;
    for (const auto& [key, value] : items) {
        PyObject* v = PyLong_FromLong(value);
        if (v == nullptr || PyDict_SetItemString(d, key, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return nullptr;
        }
        Py_DECREF(v);
    }
    return d;
}

} // namespace

// The worker creates a thread state on itself and swaps it in without the GIL, as a context
// does. Meanwhile the main thread's current thread state must still be its own.
PyObject* probe_tstate(PyObject*, PyObject*) {
    PyThreadState* main_ts = PyThreadState_Get();
    PyInterpreterState* interp = main_ts->interp;
    PyThreadState* worker_ts = nullptr;
    bool worker_sees_own = false, worker_none_after = false;
    Flag swapped, checked;

    std::thread worker([&] {
        worker_ts = PyThreadState_New(interp);
        if (worker_ts != nullptr) {
            PyThreadState_Swap(worker_ts);
            worker_sees_own = _PyThreadState_UncheckedGet() == worker_ts;
        }
        swapped.set();
        checked.wait();
        if (worker_ts != nullptr) {
            PyThreadState_Swap(nullptr);
            worker_none_after = _PyThreadState_UncheckedGet() == nullptr;
        }
    });
    swapped.wait();
    bool main_sees_own = _PyThreadState_UncheckedGet() == main_ts;
    checked.set();
    worker.join();

    // Without a thread-local slot the worker's swaps overwrote the main thread's: put it back
    // so the interpreter survives to report the failure.
    bool main_sees_own_after = _PyThreadState_UncheckedGet() == main_ts;
    if (!main_sees_own_after)
        PyThreadState_Swap(main_ts);
    if (worker_ts == nullptr) {
        PyErr_SetString(PyExc_RuntimeError, "PyThreadState_New failed on the worker");
        return nullptr;
    }
    PyThreadState_Clear(worker_ts);
    PyThreadState_Delete(worker_ts);
    return int_dict({{"worker_sees_own", worker_sees_own},
                     {"worker_none_after_swap_out", worker_none_after},
                     {"main_sees_own_while_worker_runs", main_sees_own},
                     {"main_sees_own_after", main_sees_own_after}});
}

// In a context on a worker: Py_INCREF/Py_DECREF of the main-owned `obj` must leave its
// refcount alone; a context-owned object (a bytes object, neither GC-tracked nor on a
// freelist, allocated in the context's heap) must be counted normally. The context-owned
// object is never deallocated: the heap releases it, as a rewind would.
PyObject* probe_refcount(PyObject*, PyObject* obj) {
    Py_ssize_t main_before = 0, main_after_incref = 0, main_after_decref = 0;
    Py_ssize_t ctx_before = -1, ctx_after_incref = -1, ctx_after_decref = -1;
    bool ctx_in_heap = false;

    std::thread worker([&] {
        px::Heap heap;
        px::Context ctx;
        ctx.heap = &heap;
        ctx.worker = 1;
        px::ContextScope scope(ctx);

        main_before = Py_REFCNT(obj);
        Py_INCREF(obj);
        main_after_incref = Py_REFCNT(obj);
        Py_DECREF(obj);
        main_after_decref = Py_REFCNT(obj);

        PyObject* own = PyBytes_FromStringAndSize(nullptr, 64);
        if (own != nullptr) {
            ctx_in_heap = px::owner_of(own) == &heap;
            ctx_before = Py_REFCNT(own);
            Py_INCREF(own);
            ctx_after_incref = Py_REFCNT(own);
            Py_DECREF(own);
            ctx_after_decref = Py_REFCNT(own);
        }
    });
    worker.join();

    // Without the hook the worker's increment and decrement both landed: balanced, so obj is
    // intact either way; the counts above tell whether they landed.
    return int_dict({{"main_before", main_before},
                     {"main_after_incref", main_after_incref},
                     {"main_after_decref", main_after_decref},
                     {"ctx_in_heap", ctx_in_heap},
                     {"ctx_before", ctx_before},
                     {"ctx_after_incref", ctx_after_incref},
                     {"ctx_after_decref", ctx_after_decref}});
}

PyObject* probe_malloc_mode_heap(PyObject*, PyObject* on) {
    static px::Heap* heap = nullptr; // main thread only (the GIL is held)
    int want = PyObject_IsTrue(on);
    if (want < 0)
        return nullptr;
    if (want && heap == nullptr) {
        px::HeapOptions options;
        options.malloc_per_allocation = true;
        heap = new px::Heap(options);
    } else if (!want && heap != nullptr) {
        delete heap;
        heap = nullptr;
    }
    Py_RETURN_NONE;
}

} // namespace px::interp
