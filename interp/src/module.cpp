// module.cpp — the built-in module `parallel` (docs: /work/shared/design/API.md), first part:
// introspection helpers and the exception types.
//
// Single-phase init: `parallel` is built into pxpython (Modules/Setup.local), imported once per
// process, and pxkit supports only the main interpreter, so module state lives in statics.
#include <Python.h>

#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include <pxkit.h>

#include "callbacks.h"
#include "probe.h"
#include "px/guards.h"
#include "px/interp.h"
#include "px/runtime.h"

namespace {

PyObject* g_mutation_error = nullptr;       // parallel.MutationError(RuntimeError)
PyObject* g_clone_error = nullptr;          // parallel.CloneError(TypeError)
PyObject* g_context_memory_error = nullptr; // parallel.ContextMemoryError(MemoryError)

PyObject* cpu_count(PyObject*, PyObject*) {
    return PyLong_FromUnsignedLong(px::runtime::cpu_count()); // map()'s default too
}

PyObject* is_parallel_thread(PyObject*, PyObject*) {
    return PyBool_FromLong(px::in_parallel_context());
}

PyObject* thread_seq_id(PyObject*, PyObject*) {
    const px::Context* ctx = px::current_context();
    return PyLong_FromUnsignedLong(ctx != nullptr ? ctx->worker : 0);
}

PyObject* rdtsc(PyObject*, PyObject*) {
#if defined(__x86_64__) || defined(__i386__)
    return PyLong_FromUnsignedLongLong(__rdtsc());
#else
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return PyLong_FromUnsignedLongLong(static_cast<unsigned long long>(ts.tv_sec) * 1000000000ull +
                                       static_cast<unsigned long long>(ts.tv_nsec));
#endif
}

// One write(2) per message, so lines from several workers never interleave. The UTF-8 copy is
// a new bytes object: PyUnicode_AsUTF8() would cache it inside `msg`, a write to an object the
// context may not own.
PyObject* debug(PyObject*, PyObject* msg) {
    if (!PyUnicode_Check(msg)) {
        PyErr_Format(PyExc_TypeError, "parallel.debug() takes a str, not %.200s",
                     Py_TYPE(msg)->tp_name);
        return nullptr;
    }
    PyObject* utf8 = PyUnicode_AsEncodedString(msg, "utf-8", "backslashreplace");
    if (utf8 == nullptr)
        return nullptr;
    std::string line(PyBytes_AS_STRING(utf8), static_cast<std::size_t>(PyBytes_GET_SIZE(utf8)));
    Py_DECREF(utf8);
    line += '\n';
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
        ssize_t n = write(STDERR_FILENO, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; // stderr closed or full: debug output is best effort
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    Py_RETURN_NONE;
}

PyObject* shutdown(PyObject*, PyObject*) {
    px::interp::shutdown_servers();
    px::interp::shutdown_workers();
    Py_RETURN_NONE;
}

// `parallel` is built in, but parallel.http is Python source: interp/build.sh installs it as
// <stdlib>/parallel/, and __path__ makes `parallel` a package that finds it there.
bool set_package_path(PyObject* module) {
    PyObject* os = PyImport_ImportModule("os");
    PyObject* file = os ? PyObject_GetAttrString(os, "__file__") : nullptr;
    Py_XDECREF(os);
    if (file == nullptr)
        return false;
    PyObject* dir = PyUnicode_FromFormat("%U", file);
    Py_DECREF(file);
    if (dir == nullptr)
        return false;
    Py_ssize_t slash = PyUnicode_FindChar(dir, '/', 0, PyUnicode_GET_LENGTH(dir), -1);
    PyObject* stdlib = slash > 0 ? PyUnicode_Substring(dir, 0, slash) : PyUnicode_FromString(".");
    Py_DECREF(dir);
    PyObject* path = stdlib ? PyUnicode_FromFormat("%U/parallel", stdlib) : nullptr;
    Py_XDECREF(stdlib);
    PyObject* list = path ? Py_BuildValue("[O]", path) : nullptr;
    Py_XDECREF(path);
    if (list == nullptr)
        return false;
    return PyModule_AddObject(module, "__path__", list) == 0 || (Py_DECREF(list), false);
}

PyMethodDef g_methods[] = {
    {"map", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(px::interp::map)),
     METH_VARARGS | METH_KEYWORDS,
     "map(func, iterable, *, workers=None) -> list: func(item) for every item, each call in a "
     "parallel context; results in input order."},
    {"cpu_count", cpu_count, METH_NOARGS, "cpu_count() -> int: workers used by default."},
    {"is_parallel_thread", is_parallel_thread, METH_NOARGS,
     "is_parallel_thread() -> bool: True while running in a parallel context."},
    {"thread_seq_id", thread_seq_id, METH_NOARGS,
     "thread_seq_id() -> int: 0 on the main thread, 1..N on workers."},
    {"rdtsc", rdtsc, METH_NOARGS, "rdtsc() -> int: the CPU's time-stamp counter."},
    {"debug", debug, METH_O,
     "debug(msg: str) -> None: one line to stderr, safe in a parallel context."},
    {"track_dealloc", px::interp::track_dealloc, METH_O,
     "track_dealloc(type) -> type: instances made in a parallel context and still alive when "
     "its callback is over get tp_dealloc before its memory is released (main thread only)."},
    {"tracked_types", px::interp::tracked_types, METH_NOARGS,
     "tracked_types() -> tuple: the types given to track_dealloc()."},
    {"server", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(px::interp::server)),
     METH_VARARGS | METH_KEYWORDS,
     "server(host='127.0.0.1', port=8080, *, workers=None) -> Server: a listening socket (port 0 "
     "picks one)."},
    {"register",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(px::interp::register_protocol)),
     METH_VARARGS | METH_KEYWORDS,
     "register(transport=server, protocol=Class): serve the server's connections with Class."},
    {"run", px::interp::run, METH_NOARGS,
     "run(): serve every registered server until parallel.stop(), SIGINT or SIGTERM."},
    {"run_once", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(px::interp::run_once)),
     METH_VARARGS | METH_KEYWORDS,
     "run_once(timeout=0.0): serve for up to timeout seconds; raises the oldest callback "
     "exception."},
    {"stop", px::interp::stop, METH_NOARGS,
     "stop(): make run() stop accepting, finish what is in flight and return (any thread)."},
    {"stats", px::interp::stats, METH_NOARGS,
     "stats() -> dict: contexts, memory, server, elapsed, threads."},
    {"call_from_main_thread",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(px::interp::call_from_main_thread)),
     METH_VARARGS | METH_KEYWORDS,
     "call_from_main_thread(func, *args, **kwargs): func(*args, **kwargs) on the main thread, "
     "arguments and result cloned across; with only func, on the main thread: a decorator."},
    {"_call_on_main",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(px::interp::call_on_main)),
     METH_VARARGS | METH_KEYWORDS, "The call behind call_from_main_thread's decorator."},
    {"protect", px::interp::protect, METH_O,
     "protect(obj) -> obj: obj (a dict, list, set or an instance with a __dict__) may then be "
     "read and written from contexts and the main thread at once, under a reader/writer lock; "
     "values written from contexts are cloned onto the main heap. Main thread only."},
    {"unprotect", px::interp::unprotect, METH_O,
     "unprotect(obj) -> obj: back to its plain type (main thread only)."},
    {"protected", px::interp::is_protected_py, METH_O,
     "protected(obj) -> bool: whether obj is protected."},
    {"__getattr__", px::interp::module_getattr, METH_O,
     "parallel.dict and parallel.list, made ready on first use."},
    {"_protect_stats", px::interp::protect_stats, METH_NOARGS,
     "_protect_stats() -> dict: references kept for running callbacks (retired) and released."},
    {"_probe_tstate", px::interp::probe_tstate, METH_NOARGS,
     "Test only: a thread without the GIL swaps in its own thread state."},
    {"_probe_refcount", px::interp::probe_refcount, METH_O,
     "Test only: refcounting of a main-owned and a context-owned object in a context."},
    {"_probe_malloc_mode_heap", px::interp::probe_malloc_mode_heap, METH_O,
     "Test only: make (True) or destroy (False) a heap in malloc_per_allocation mode."},
    {"_heap_stats", px::interp::heap_stats, METH_NOARGS,
     "_heap_stats() -> list of dict: each worker heap's statistics (main thread, between "
     "maps)."},
    {"_shutdown", shutdown, METH_NOARGS,
     "Stops the worker threads (registered with atexit; a later map() starts new ones)."},
    {nullptr, nullptr, 0, nullptr},
};

// Worker threads hold thread states, which must be deleted before the interpreter clears
// its list of them: atexit callbacks run early enough in Py_FinalizeEx.
bool register_shutdown(PyObject* module) {
    PyObject* atexit = PyImport_ImportModule("atexit");
    if (atexit == nullptr)
        return false;
    PyObject* fn = PyObject_GetAttrString(module, "_shutdown");
    PyObject* r = fn ? PyObject_CallMethod(atexit, "register", "O", fn) : nullptr;
    Py_XDECREF(fn);
    Py_DECREF(atexit);
    Py_XDECREF(r);
    return r != nullptr;
}

PyModuleDef g_module = {
    PyModuleDef_HEAD_INIT,
    "parallel",
    "pxkit: run Python callbacks in parallel contexts on worker threads.",
    -1,
    g_methods,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
};

// Creates parallel.<name>(base) once and adds it to the module (a new reference is kept).
bool add_error(PyObject* module, PyObject** slot, const char* name, PyObject* base,
               const char* doc) {
    if (*slot == nullptr) {
        std::string qualified = std::string("parallel.") + name;
        *slot = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, base, nullptr);
        if (*slot == nullptr)
            return false;
    }
    Py_INCREF(*slot);
    if (PyModule_AddObject(module, name, *slot) < 0) {
        Py_DECREF(*slot);
        return false;
    }
    return true;
}

// CPython fills a few process-wide tables on first use, without a lock; two contexts filling
// one at once could read it half written. They are filled here, on the main thread, before
// any context exists. PyLong_FromString's per-base tables (the general path, every base
// that is not a power of two): a reader that saw log_base_BASE[base] set before the writer
// stored convwidth_base[base] parsed with a width of 0 (TSan saw the writes race).
bool fill_lazy_tables() {
    for (int base = 3; base <= 36; ++base) {
        if ((base & (base - 1)) == 0)
            continue; // powers of two are parsed without the tables
        PyObject* one = PyLong_FromString("1", nullptr, base);
        if (one == nullptr)
            return false;
        Py_DECREF(one);
    }
    return true;
}

} // namespace

extern "C" PyObject* PyInit_parallel(void) {
    if (px::in_parallel_context()) {
        PyErr_SetString(PyExc_ImportError,
                        "parallel must be imported on the main thread, not in a parallel context");
        return nullptr;
    }
    PyObject* module = PyModule_Create(&g_module);
    if (module == nullptr)
        return nullptr;
    if (!add_error(module, &g_mutation_error, "MutationError", PyExc_RuntimeError,
                   "A parallel context wrote to an object owned by the main thread.") ||
        !add_error(module, &g_clone_error, "CloneError", PyExc_TypeError,
                   "A value had to cross heaps but cannot be cloned.") ||
        !add_error(module, &g_context_memory_error, "ContextMemoryError", PyExc_MemoryError,
                   "A parallel context's heap reached its byte limit.") ||
        PyModule_AddIntConstant(module, "HOOK_ABI_VERSION", PXKIT_HOOK_ABI_VERSION) < 0 ||
        // The tp_flags bit of patch 0019, for tools and tests that check types for it.
        PyModule_AddIntConstant(module, "TPFLAGS_PX_DEALLOC",
                                static_cast<long>(Py_TPFLAGS_PX_DEALLOC)) < 0) {
        Py_DECREF(module);
        return nullptr;
    }
    if (!register_shutdown(module)) {
        Py_DECREF(module);
        return nullptr;
    }
    // A failed callback's traceback is formatted in its context with the traceback module,
    // which only the main thread may import; importing it now keeps the first failure from
    // defining classes on the main heap.
    if (!px::interp::init_callbacks() || !fill_lazy_tables()) {
        Py_DECREF(module);
        return nullptr;
    }
    if (!set_package_path(module) || !px::interp::init_server_types(module)) {
        Py_DECREF(module);
        return nullptr;
    }
    px::interp::init_protect();
    px::interp::set_error_types({g_mutation_error, g_context_memory_error, g_clone_error});
    px::register_main_thread(); // false only if another thread registered first: harmless
    return module;
}
