// map.cpp — parallel.map(func, iterable, *, workers=None): each call in a parallel context.
//
// The main thread materialises the items, disables the GC (a collection must not walk main
// objects while contexts read them, and contexts' objects are invisible to it anyway), parks
// and waits in WorkerPool::run(). Each worker thread has a thread state of its own, created on
// that thread; per item it enters its context, swaps the thread state in (a TLS write only:
// it never takes the GIL), snapshots its heap, calls func(item), and hands the result or the
// exception to the main thread (call_on_main), which clones it onto the main heap. Then the
// worker clears whatever its thread state still holds from the context and rewinds the heap.
// While it waits, the main thread services signals, so Ctrl-C interrupts a map.
#include <Python.h>

#include <pthread.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "px/guards.h"
#include "px/interp.h"
#include "px/runtime.h"

#include "callbacks.h"

namespace px::interp {
namespace {

std::unique_ptr<runtime::WorkerPool> g_pool;
std::mutex g_workers_mutex;
std::vector<runtime::Worker*> g_workers; // the pool's workers, for heap_stats()

// The worker's thread state lives in Worker::user for the pool's lifetime.
PyThreadState* thread_state(runtime::Worker& worker) {
    return static_cast<PyThreadState*>(worker.user);
}

void start_worker_thread(runtime::Worker& worker) {
    worker.user = new_worker_thread_state();
    worker.context().deallocs = new px::DeallocList(worker.heap());
    std::lock_guard lock(g_workers_mutex);
    g_workers.push_back(&worker);
}

void stop_worker_thread(runtime::Worker& worker) {
    delete std::exchange(worker.context().deallocs, nullptr);
    delete_worker_thread_state(thread_state(worker));
    worker.user = nullptr;
}

runtime::WorkerPool& pool_for(unsigned workers, const px::HeapOptions& heap) {
    if (!g_pool || g_pool->size() < workers) {
        g_pool.reset(); // joins the old threads, which delete their thread states
        {
            std::lock_guard lock(g_workers_mutex);
            g_workers.clear();
        }
        runtime::PoolOptions options;
        options.workers = workers;
        options.heap = heap;
        options.thread_start = start_worker_thread;
        options.thread_stop = stop_worker_thread;
        g_pool = std::make_unique<runtime::WorkerPool>(std::move(options));
    }
    return *g_pool;
}

// One map call's shared state. Only the main thread touches results and failure.
struct MapState {
    PyObject* func = nullptr;
    PyObject* items = nullptr; // a main-owned list
    std::vector<PyObject*> results;
    bool failed = false;
    PendingError failure; // the earliest item's failure wins
};

// Main thread, from call_on_main: the item's outcome onto the main heap.
void receive(MapState& state, std::size_t index, Outcome& out, runtime::WorkerPool& pool) {
    MainHeapTurn turn;
    if (state.failed && index > state.failure.index)
        return; // a failure earlier in the input wins; this one is dropped
    PendingError f;
    f.index = index;
    if (out.result != nullptr) {
        CloneOptions options;
        options.clone_error = error_types().clone_error;
        PyObject* copy = clone(out.result, options);
        if (copy != nullptr) {
            state.results[index] = copy;
            return;
        }
        // The clone failed: its CloneError (built by C code) is the failure.
        f.error = take_exception();
    } else {
        take_failure(f, out);
    }
    PyErr_Clear();
    state.failure.clear();
    state.failure = f; // moves the references
    state.failed = true;
    pool.cancel();
}

// Worker thread: one item in the worker's context.
void run_item(MapState& state, runtime::WorkerPool& pool, runtime::Worker& worker,
              std::size_t index) {
    PyThreadState* ts = thread_state(worker);
    CallbackEpoch epoch; // ends after the rewind: main objects read are no longer used
    ContextScope scope(worker.context());
    Heap& heap = worker.heap();
    Snapshot snap = heap.snapshot();
    PyThreadState_Swap(ts); // in a context: the thread-local slot only

    Outcome out;
    out.result = PyObject_CallOneArg(state.func, PyList_GET_ITEM(state.items, index));
    if (out.result == nullptr)
        describe_exception(out, worker.id());
    if (!pool.call_on_main([&] { receive(state, index, out, pool); })) {
        // Cannot happen inside run(); keep the context consistent anyway.
    }
    clear_outcome(out);
    clear_thread_state(ts);

    PyThreadState_Swap(nullptr);
    (void)heap.rewind(snap);
}

bool parse_workers(PyObject* obj, unsigned* workers) {
    if (obj == nullptr || obj == Py_None) {
        *workers = runtime::cpu_count();
        return true;
    }
    if (!PyLong_Check(obj) || PyBool_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "parallel.map(): workers must be an int or None, not %.200s",
                     Py_TYPE(obj)->tp_name);
        return false;
    }
    long n = PyLong_AsLong(obj);
    if (n == -1 && PyErr_Occurred())
        return false;
    if (n < 1 || n > 1024) {
        PyErr_Format(PyExc_ValueError,
                     "parallel.map(): workers must be between 1 and 1024 (or None for "
                     "parallel.cpu_count()), got %ld",
                     n);
        return false;
    }
    *workers = static_cast<unsigned>(n);
    return true;
}

} // namespace

PyObject* map(PyObject*, PyObject* args, PyObject* kwargs) {
    static const char* keywords[] = {"func", "iterable", "workers", nullptr};
    PyObject* func = nullptr;
    PyObject* iterable = nullptr;
    PyObject* workers_obj = nullptr;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|$O:map", const_cast<char**>(keywords), &func,
                                     &iterable, &workers_obj))
        return nullptr;
    if (in_parallel_context()) {
        PyErr_SetString(PyExc_RuntimeError,
                        "parallel.map() cannot be called from a parallel context; return the "
                        "work to the main thread and call it there");
        return nullptr;
    }
    if (!is_main_thread()) {
        PyErr_SetString(PyExc_RuntimeError,
                        "parallel.map() must be called from the main thread (the thread that "
                        "imported parallel)");
        return nullptr;
    }
    if (!check_contexts_can_start("map"))
        return nullptr;
    if (!PyCallable_Check(func)) {
        PyErr_Format(PyExc_TypeError, "parallel.map(): func must be callable, not %.200s",
                     Py_TYPE(func)->tp_name);
        return nullptr;
    }
    unsigned workers = 0;
    if (!parse_workers(workers_obj, &workers))
        return nullptr;
    if (!PyIter_Check(iterable) && Py_TYPE(iterable)->tp_iter == nullptr &&
        !PySequence_Check(iterable)) {
        PyErr_Format(PyExc_TypeError, "parallel.map(): iterable must be iterable, not %.200s",
                     Py_TYPE(iterable)->tp_name);
        return nullptr;
    }
    PyObject* items = PySequence_List(iterable);
    if (items == nullptr)
        return nullptr;
    const std::size_t n = static_cast<std::size_t>(PyList_GET_SIZE(items));
    if (n == 0)
        return items; // a new, empty list

    if (!init_callbacks()) {
        Py_DECREF(items);
        return nullptr;
    }
    px::HeapOptions heap_options;
    if (!context_heap_options(heap_options)) {
        Py_DECREF(items);
        return nullptr;
    }
    runtime::WorkerPool* pool = nullptr;
    try {
        pool = &pool_for(workers, heap_options);
    } catch (const std::exception& e) {
        Py_DECREF(items);
        PyErr_Format(PyExc_RuntimeError, "parallel.map(): cannot start workers: %s", e.what());
        return nullptr;
    }

    MapState state;
    state.func = func;
    state.items = items;
    state.results.assign(n, nullptr);

    PyObject* interrupt = nullptr; // an exception raised by a signal handler while waiting
    const int gc_was_enabled = PyGC_Disable();
    park_main();
    try {
        pool->run(
            n, [&](runtime::Worker& w, std::size_t i) { run_item(state, *pool, w, i); },
            [&] {
                MainHeapTurn turn;
                release_retired();
                if (PyErr_CheckSignals() == 0)
                    return true;
                interrupt = take_exception();
                return false;
            },
            std::chrono::milliseconds(20), workers);
    } catch (const std::logic_error& e) {
        unpark_main();
        if (gc_was_enabled)
            PyGC_Enable();
        Py_DECREF(items);
        PyErr_Format(PyExc_RuntimeError, "parallel.map(): %s", e.what());
        return nullptr;
    }
    unpark_main();
    release_retired(); // every callback has ended
    if (gc_was_enabled)
        PyGC_Enable();
    Py_DECREF(items);

    // Workers are idle now: Python may run on the main thread again.
    PyObject* error = interrupt;
    if (error == nullptr && state.failed) {
        error = build_exception(state.failure);
        if (error == nullptr) // building it failed: that exception is the error
            error = take_exception();
    }
    state.failure.clear();
    if (error != nullptr) {
        for (PyObject* r : state.results)
            Py_XDECREF(r);
        PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error)), error);
        Py_DECREF(error);
        return nullptr;
    }
    for (PyObject* r : state.results) {
        if (r == nullptr) { // only a cancelled run leaves holes, and it always has an error
            for (PyObject* q : state.results)
                Py_XDECREF(q);
            PyErr_SetString(PyExc_SystemError, "parallel.map(): a call did not run");
            return nullptr;
        }
    }
    PyObject* list = PyList_New(static_cast<Py_ssize_t>(n));
    if (list == nullptr) {
        for (PyObject* r : state.results)
            Py_XDECREF(r);
        return nullptr;
    }
    for (std::size_t i = 0; i < n; ++i)
        PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), state.results[i]);
    return list;
}

bool map_call_on_main(const std::function<void()>& fn) {
    return g_pool && g_pool->call_on_main(fn); // false unless a map() is running
}

void shutdown_workers() {
    g_pool.reset();
    std::lock_guard lock(g_workers_mutex);
    g_workers.clear();
}

PyObject* heap_stats(PyObject*, PyObject*) {
    if (in_parallel_context()) {
        PyErr_SetString(PyExc_RuntimeError, "parallel._heap_stats() is for the main thread");
        return nullptr;
    }
    std::vector<std::pair<unsigned, HeapStats>> all;
    {
        std::lock_guard lock(g_workers_mutex);
        for (runtime::Worker* w : g_workers)
            all.emplace_back(w->id(), w->heap().stats()); // workers are idle between maps
    }
    PyObject* list = PyList_New(0);
    for (const auto& [id, st] : all) {
        PyObject* d = Py_BuildValue("{s:I,s:n,s:n,s:n,s:n,s:n,s:n,s:K,s:K}", "worker", id,
                                    "bytes_in_use", static_cast<Py_ssize_t>(st.bytes_in_use),
                                    "bytes_held", static_cast<Py_ssize_t>(st.bytes_held),
                                    "high_water", static_cast<Py_ssize_t>(st.high_water),
                                    "chunk_bytes", static_cast<Py_ssize_t>(st.chunk_bytes),
                                    "cached_bytes", static_cast<Py_ssize_t>(st.cached_bytes),
                                    "chunks", static_cast<Py_ssize_t>(st.chunks), "allocations",
                                    static_cast<unsigned long long>(st.allocations), "rewinds",
                                    static_cast<unsigned long long>(st.rewinds));
        if (d == nullptr || PyList_Append(list, d) < 0) {
            Py_XDECREF(d);
            Py_DECREF(list);
            return nullptr;
        }
        Py_DECREF(d);
    }
    return list;
}

} // namespace px::interp
