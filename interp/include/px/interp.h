// px/interp.h — px_interp, the C++ side of the patched interpreter.
//
// The patched CPython calls the hooks that Include/pxkit.h declares; this library defines
// them (among them the allocation hooks that send a context's allocations to its heap,
// src/allocator.cpp) and gives the `parallel` module and the runtime the few controls they
// need over the main thread's heap:
//   * The main thread "parks" while workers run (it waits in pxkit's loop, holding the GIL
//     but running no Python). Only then may a worker enter a main-heap section: the section
//     lock serialises such workers, and the main thread takes the same lock whenever it
//     wakes up to run Python (a signal handler, a call_from_main_thread function).
#pragma once

#include <Python.h>

#include <functional>

namespace px {
class Heap;
}

namespace px::interp {

// Until exit_heap(), the current context allocates from `heap` and owns its objects: a
// connection's callbacks act as its session this way where the protocol instance is made
// and released (the interpreter does it where a value is stored on it). Nests with the
// owner scopes the interpreter opens (PxInterp_owner_enter). In a context only; false with
// an exception set when nested too deeply.
bool enter_heap(px::Heap& heap);
void exit_heap();

// The main thread's side of main-heap sections. park() says "I run no Python until
// unpark()"; it is called with the GIL held and keeps it.
void park_main();
void unpark_main();
// Whether the main thread is parked: inside parallel.map() or parallel.run(), perhaps
// running a function a context handed it.
bool main_parked();
// Whether parallel.<what>() may start contexts now; if not, a RuntimeError saying why is set.
// Not while the main thread is parked (another map() or run() is waiting), and not while a
// heap in malloc mode exists: the interpreter's ownership tests read only the region
// (Include/pxkit.h).
bool check_contexts_can_start(const char* what);

// While parked, the main thread runs Python (signal handlers, queued calls) only inside a
// MainHeapTurn, which keeps workers out of their main-heap sections meanwhile.
class MainHeapTurn {
public:
    MainHeapTurn();
    ~MainHeapTurn();
    MainHeapTurn(const MainHeapTurn&) = delete;
    MainHeapTurn& operator=(const MainHeapTurn&) = delete;
};

// The exception types the hooks raise; set once by the parallel module at import.
struct ErrorTypes {
    PyObject* mutation_error = nullptr;       // parallel.MutationError (RuntimeError)
    PyObject* context_memory_error = nullptr; // parallel.ContextMemoryError (MemoryError)
    PyObject* clone_error = nullptr;          // parallel.CloneError (TypeError)
};
void set_error_types(const ErrorTypes& types);
const ErrorTypes& error_types();

// parallel.map(func, iterable, *, workers=None) (API.md): main thread only.
PyObject* map(PyObject* module, PyObject* args, PyObject* kwargs);
// Stops the worker threads and deletes their thread states; registered with atexit, so it
// runs before the interpreter finalises. A later map() starts new workers.
void shutdown_workers();
// parallel._heap_stats(): one dict per worker heap (high_water, bytes_held, ...), read
// between maps on the main thread.
PyObject* heap_stats(PyObject* module, PyObject* unused);

// parallel.track_dealloc(type) -> type and parallel.tracked_types() (API.md "PX_DEALLOC"),
// src/deallocs.cpp: main thread only; sets Py_TPFLAGS_PX_DEALLOC on the type.
PyObject* track_dealloc(PyObject* module, PyObject* type);
PyObject* tracked_types(PyObject* module, PyObject* unused);

// parallel.server / register / run / run_once / stop (API.md "Servers"), src/server.cpp.
bool init_server_types(PyObject* module); // parallel.Server, parallel.Transport
PyObject* server(PyObject* module, PyObject* args, PyObject* kwargs);
PyObject* register_protocol(PyObject* module, PyObject* args, PyObject* kwargs);
PyObject* run(PyObject* module, PyObject* unused);
PyObject* run_once(PyObject* module, PyObject* args, PyObject* kwargs);
PyObject* stop(PyObject* module, PyObject* unused); // any thread, contexts included
// Stops servers that run_once() left running (atexit, before the workers' shutdown).
void shutdown_servers();
double server_elapsed(); // seconds since the first run()/run_once(), 0 before
PyObject* stats(PyObject* module, PyObject* unused); // parallel.stats()

// Runs fn on the main thread while it waits in parallel.map() (the pool's call_on_main) or in
// parallel.run()/run_once() (its loop), and returns once fn has run; false, with *refusal
// saying why, when the main thread waits in neither or the server is shutting down. fn takes
// a MainHeapTurn itself. Called from workers.
bool run_on_main(const std::function<void()>& fn, const char** refusal);
bool map_call_on_main(const std::function<void()>& fn);
bool server_call_on_main(const std::function<void()>& fn, const char** refusal);
// parallel.call_from_main_thread(func, *args, **kwargs), also a decorator (main_calls.cpp),
// and parallel._call_on_main, the call itself (what the decorator's wrapper calls).
PyObject* call_from_main_thread(PyObject* module, PyObject* args, PyObject* kwargs);
PyObject* call_on_main(PyObject* module, PyObject* args, PyObject* kwargs);

} // namespace px::interp
