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
#include <vector>

#include "px/guards.h"
#include "px/interp.h"
#include "px/runtime.h"

namespace px::interp {
namespace {

PyInterpreterState* g_interp = nullptr;
PyObject* g_traceback_module = nullptr; // imported by the main thread before the first run
std::unique_ptr<runtime::WorkerPool> g_pool;
std::mutex g_workers_mutex;
std::vector<runtime::Worker*> g_workers; // the pool's workers, for heap_stats()

// The worker's thread state lives in Worker::user for the pool's lifetime.
PyThreadState* thread_state(runtime::Worker& worker) {
    return static_cast<PyThreadState*>(worker.user);
}

void start_worker_thread(runtime::Worker& worker) {
    // RAW memory (malloc), and it registers the state for this thread (PyGILState_*). Its
    // contexts use no float or tuple freelist (they are the main thread's, patch 0006).
    PyThreadState* ts = PyThreadState_New(g_interp);
    if (ts != nullptr)
        _PyThreadState_PxNoFreelists(ts);
    worker.user = ts;
    std::lock_guard lock(g_workers_mutex);
    g_workers.push_back(&worker);
}

void stop_worker_thread(runtime::Worker& worker) {
    if (PyThreadState* ts = thread_state(worker)) {
        PyThreadState_Clear(ts);
        PyThreadState_Delete(ts);
        worker.user = nullptr;
    }
}

runtime::WorkerPool& pool_for(unsigned workers) {
    if (!g_pool || g_pool->size() < workers) {
        g_pool.reset(); // joins the old threads, which delete their thread states
        {
            std::lock_guard lock(g_workers_mutex);
            g_workers.clear();
        }
        runtime::PoolOptions options;
        options.workers = workers;
        // Poison mode: rewound chunks become PROT_NONE, so any pointer into a context's memory
        // that outlived the callback faults at its next use instead of reading stale data.
        const char* poison = std::getenv("PXKIT_POISON");
        options.heap.poison_rewound = poison != nullptr && poison[0] != '\0' && poison[0] != '0';
        options.thread_start = start_worker_thread;
        options.thread_stop = stop_worker_thread;
        g_pool = std::make_unique<runtime::WorkerPool>(std::move(options));
    }
    return *g_pool;
}

// Drops, in the context, everything the thread state still references: objects of the
// context's heap (the per-thread dict of threading.local and decimal, the contextvars
// context, exceptions) and main objects stored without a counted reference.
void clear_thread_state(PyThreadState* ts) {
    PyErr_Clear();
    // In a context, references to main objects are not counted, so the state must not keep
    // one past the context: POP_EXCEPT leaves None here (uncounted), and clearing it later,
    // outside any context, would take a reference None never had.
    Py_CLEAR(ts->exc_state.exc_value);
    Py_CLEAR(ts->async_exc);
    Py_CLEAR(ts->dict);
    if (ts->context != nullptr) {
        Py_CLEAR(ts->context);
        ts->context_ver++;
    }
    Py_CLEAR(ts->async_gen_firstiter);
    Py_CLEAR(ts->async_gen_finalizer);
}

// What a worker hands to the main thread for one item: the result, or what the main thread
// needs to rebuild the exception. Everything here is context-owned.
struct Outcome {
    PyObject* result = nullptr;
    PyObject* type = nullptr;     // the exception's type (main-owned unless the callback made it)
    PyObject* args = nullptr;     // arguments that rebuild it (a tuple), or null
    PyObject* attrs = nullptr;    // the instance's __dict__, or null
    PyObject* text = nullptr;     // "traceback in parallel worker N:\n..." or null
    PyObject* fallback = nullptr; // "TypeName: message", for when it cannot be rebuilt
};

// The first failure, on the main heap, waiting for the run to end: the exception is built
// only then, because building it runs Python (the type's __init__, add_note), and the main
// thread runs no Python while workers do (it would quicken code and tag types they read).
struct PendingError {
    std::size_t index = 0;
    PyObject* type = nullptr; // main-owned, or null when the callback's own class raised
    PyObject* args = nullptr;
    PyObject* attrs = nullptr; // a main dict
    PyObject* text = nullptr;
    PyObject* fallback = nullptr;
    PyObject* error = nullptr; // an exception already built (a failed clone of a result)

    void clear() {
        Py_CLEAR(type);
        Py_CLEAR(args);
        Py_CLEAR(attrs);
        Py_CLEAR(text);
        Py_CLEAR(fallback);
        Py_CLEAR(error);
    }
};

// One map call's shared state. Only the main thread touches results and failure.
struct MapState {
    PyObject* func = nullptr;
    PyObject* items = nullptr; // a main-owned list
    std::vector<PyObject*> results;
    bool failed = false;
    PendingError failure; // the earliest item's failure wins
};

// OSError keeps filename and filename2 outside args; (errno, strerror, filename, None,
// filename2) rebuilds them. nullptr, with no exception, for other exceptions.
PyObject* os_error_args(PyObject* value) {
    if (!PyObject_TypeCheck(value, reinterpret_cast<PyTypeObject*>(PyExc_OSError)))
        return nullptr;
    auto* e = reinterpret_cast<PyOSErrorObject*>(value);
    if (e->myerrno == nullptr || e->strerror == nullptr)
        return nullptr; // not the (errno, strerror) form: args say it all
    if (e->filename == nullptr)
        return PyTuple_Pack(2, e->myerrno, e->strerror);
    if (e->filename2 == nullptr)
        return PyTuple_Pack(3, e->myerrno, e->strerror, e->filename);
    return PyTuple_Pack(5, e->myerrno, e->strerror, e->filename, Py_None, e->filename2);
}

// Worker thread, in the context: what the main thread needs to rebuild the pending
// exception, computed here, where running Python is allowed.
void describe_exception(Outcome& out, unsigned worker) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    // Normalised here, in the context: normalising on the main thread would make a
    // main-owned exception that refers to this heap and outlives it.
    PyErr_NormalizeException(&type, &value, &tb);
    if (value == nullptr) {
        Py_XDECREF(type);
        Py_XDECREF(tb);
        return;
    }
    if (tb != nullptr)
        PyException_SetTraceback(value, tb);
    out.type = type;

    // The traceback text, with the traceback module the main thread imported (an import
    // here would write the main thread's import state; its linecache is main's, patch 0012).
    if (g_traceback_module != nullptr) {
        PyObject* lines = PyObject_CallMethod(g_traceback_module, "format_exception", "OOO", type,
                                              value, tb ? tb : Py_None);
        if (lines != nullptr) {
            PyObject* empty = PyUnicode_FromString("");
            PyObject* joined = empty ? PyUnicode_Join(empty, lines) : nullptr;
            Py_XDECREF(empty);
            Py_DECREF(lines);
            if (joined != nullptr) {
                out.text =
                    PyUnicode_FromFormat("traceback in parallel worker %u:\n%U", worker, joined);
                Py_DECREF(joined);
            }
        }
    }
    PyErr_Clear();

    out.args = os_error_args(value);
    if (out.args == nullptr && !PyErr_Occurred())
        out.args = PyObject_GetAttrString(value, "args");
    if (out.args != nullptr && !PyTuple_Check(out.args))
        Py_CLEAR(out.args);
    PyErr_Clear();

    if (PyObject** dict_ptr = _PyObject_GetDictPtr(value); dict_ptr && *dict_ptr)
        out.attrs = Py_NewRef(*dict_ptr);

    PyObject* message = PyObject_Str(value);
    if (message == nullptr) {
        PyErr_Clear();
        message = PyUnicode_FromString("<str() failed>");
    }
    if (message != nullptr) {
        out.fallback = PyUnicode_FromFormat("%s: %U", Py_TYPE(value)->tp_name, message);
        Py_DECREF(message);
    }
    PyErr_Clear();
    Py_DECREF(value);
    Py_XDECREF(tb);
}

// Main thread, while workers run: clones only (C code, no Python), of the context's
// description onto the main heap. Attributes that cannot be cloned are left out.
void take_failure(PendingError& f, Outcome& out) {
    CloneOptions options;
    options.clone_error = error_types().clone_error;
    auto copy = [&](PyObject* obj, const char* root) -> PyObject* {
        if (obj == nullptr)
            return nullptr;
        options.root = root;
        PyObject* c = clone(obj, options);
        if (c == nullptr)
            PyErr_Clear();
        return c;
    };
    if (out.type != nullptr && !is_context_memory(out.type))
        f.type = Py_NewRef(out.type);
    f.args = copy(out.args, "exception.args");
    f.text = copy(out.text, "traceback");
    f.fallback = copy(out.fallback, "message");
    if (out.attrs != nullptr && PyDict_Check(out.attrs) && (f.attrs = PyDict_New()) != nullptr) {
        Py_ssize_t pos = 0;
        PyObject *key, *v;
        while (PyDict_Next(out.attrs, &pos, &key, &v)) {
            if (!PyUnicode_Check(key) || PyUnicode_CompareWithASCIIString(key, "__notes__") == 0)
                continue;
            PyObject* k = copy(key, "exception attribute");
            PyObject* c = k ? copy(v, "exception attribute") : nullptr;
            if (c != nullptr && PyDict_SetItem(f.attrs, k, c) < 0)
                PyErr_Clear();
            Py_XDECREF(k);
            Py_XDECREF(c);
        }
    }
    PyErr_Clear();
}

// Main thread, after the run: the exception of the same type and arguments when both live
// on the main heap, with the attributes and the worker's traceback as a note; otherwise a
// RuntimeError that says what was raised.
PyObject* build_exception(PendingError& f) {
    if (f.error != nullptr)
        return Py_NewRef(f.error);
    PyObject* exc = nullptr;
    if (f.type != nullptr && f.args != nullptr) {
        exc = PyObject_Call(f.type, f.args, nullptr);
        if (exc != nullptr && !PyExceptionInstance_Check(exc))
            Py_CLEAR(exc);
        PyErr_Clear();
    }
    if (exc == nullptr) {
        PyObject* message =
            f.fallback ? Py_NewRef(f.fallback) : PyUnicode_FromString("<an exception>");
        exc = message ? PyObject_CallOneArg(PyExc_RuntimeError, message) : nullptr;
        Py_XDECREF(message);
    } else if (f.attrs != nullptr) {
        Py_ssize_t pos = 0;
        PyObject *key, *v;
        while (PyDict_Next(f.attrs, &pos, &key, &v))
            if (PyObject_SetAttr(exc, key, v) < 0)
                PyErr_Clear();
    }
    if (exc != nullptr && f.text != nullptr) {
        PyObject* r = PyObject_CallMethod(exc, "add_note", "O", f.text);
        if (r == nullptr)
            PyErr_Clear();
        Py_XDECREF(r);
    }
    if (exc == nullptr && !PyErr_Occurred())
        PyErr_SetString(PyExc_SystemError, "pxkit: could not rebuild a worker's exception");
    return exc;
}

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
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb != nullptr && value != nullptr)
            PyException_SetTraceback(value, tb);
        Py_XDECREF(type);
        Py_XDECREF(tb);
        f.error = value;
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
    Py_CLEAR(out.result);
    Py_CLEAR(out.type);
    Py_CLEAR(out.args);
    Py_CLEAR(out.attrs);
    Py_CLEAR(out.text);
    Py_CLEAR(out.fallback);
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

    if (g_interp == nullptr)
        g_interp = PyThreadState_Get()->interp;
    if (g_traceback_module == nullptr) {
        g_traceback_module = PyImport_ImportModule("traceback"); // kept for the process
        if (g_traceback_module == nullptr) {
            Py_DECREF(items);
            return nullptr;
        }
    }
    runtime::WorkerPool* pool = nullptr;
    try {
        pool = &pool_for(workers);
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
                if (PyErr_CheckSignals() == 0)
                    return true;
                PyObject *type, *tb;
                PyErr_Fetch(&type, &interrupt, &tb);
                PyErr_NormalizeException(&type, &interrupt, &tb);
                if (interrupt != nullptr && tb != nullptr)
                    PyException_SetTraceback(interrupt, tb);
                Py_XDECREF(type);
                Py_XDECREF(tb);
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
    if (gc_was_enabled)
        PyGC_Enable();
    Py_DECREF(items);

    // Workers are idle now: Python may run on the main thread again.
    PyObject* error = interrupt;
    if (error == nullptr && state.failed) {
        error = build_exception(state.failure);
        if (error == nullptr) { // building it failed: that exception is the error
            PyObject *type, *tb;
            PyErr_Fetch(&type, &error, &tb);
            PyErr_NormalizeException(&type, &error, &tb);
            Py_XDECREF(type);
            Py_XDECREF(tb);
        }
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
