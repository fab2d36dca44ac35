// callbacks.h — private to px_interp: what running Python callbacks on workers needs, shared
// by parallel.map (map.cpp) and the server (server.cpp): worker thread states, clearing a
// thread state before its context is rewound, and carrying a callback's exception from its
// context to the main thread.
#pragma once

#include <Python.h>

#include <cstddef>

namespace px {
class Heap;
struct HeapOptions;
}

namespace px::interp {

// Main thread, at import: the interpreter worker thread states belong to, and the traceback
// module describe_exception() formats with (a context may not import it). False with an
// exception set when traceback cannot be imported.
bool init_callbacks();

// On a worker thread, outside any context: a thread state of its own (RAW memory; it uses no
// float or tuple freelist, those are the main thread's, patch 0006), and its deletion.
PyThreadState* new_worker_thread_state();
void delete_worker_thread_state(PyThreadState* ts);

// The exception set now, normalised, with its traceback attached (a new reference; the
// error indicator is cleared), or nullptr when none is set.
PyObject* take_exception();

// In the context, before its rewind: drops everything the thread state still references,
// then runs tp_dealloc of the PX_DEALLOC objects still alive (deallocs.cpp).
void clear_thread_state(PyThreadState* ts);

// deallocs.cpp: in the context, with its thread state, once the callback is over: the
// tp_dealloc of every PX_DEALLOC object still tracked, newest first. Returns how many ran.
std::size_t run_tracked_deallocs();
// Whether frees of this heap's blocks are skipped now (while those deallocs run).
// The heap whose frees are skipped now, or null. local-exec: px_interp is linked into the
// pxpython executable only, so the context free path reads it in one instruction.
extern __thread px::Heap* t_frees_skipped __attribute__((tls_model("local-exec")));

// A context heap's byte limit (parallel.ContextMemoryError). Every context heap, a map
// worker's or a connection's, is made with context_heap_options(): PXKIT_POISON, and the
// limit PXKIT_CONTEXT_LIMIT (bytes, with an optional K, M or G suffix; 0: none), a quarter of
// physical memory when unset. False with a ValueError set when the variable is malformed.
bool context_heap_options(px::HeapOptions& options);
// In the context: the limit that refused an allocation of this callback, or 0 (the heap
// then lends kLimitReserve bytes more, so the MemoryError can be raised, caught and
// described). end_callback_memory() takes the loan back; every callback calls it before its
// rewind (clear_thread_state does).
std::size_t limit_hit();
void end_callback_memory();

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

    void clear();
};

// Worker thread, in the context, with an exception set: fills `out` (and clears the
// exception) with what the main thread needs to rebuild it.
void describe_exception(Outcome& out, unsigned worker);
// Releases what describe_exception() or a result left in `out` (in the same context).
void clear_outcome(Outcome& out);

// As the main thread (on it, or in a main-heap section): clones the context's description
// onto the main heap. Runs no Python.
void take_failure(PendingError& f, Outcome& out);

// Main thread, while no context runs: the exception itself (runs Python: the type's
// __init__, add_note). New reference, or nullptr with an exception set.
PyObject* build_exception(PendingError& f);

// hooks.cpp: whether the main thread is inside a MainHeapTurn, and giving it up around a
// blocking wait (a lock whose holder may wait for the turn); whether this worker is in a
// main-heap section.
bool in_main_turn();
void suspend_main_turn();
void resume_main_turn();
bool in_main_section();

// ---- protect.cpp: parallel.protect(), unprotect(), protected(), parallel.dict/list ----------

// Around each callback on a worker (map and server): publishes the epoch it began in, so
// that what a write to a protected object drops is released only after every callback that
// might still use it has ended.
class CallbackEpoch {
public:
    CallbackEpoch();
    ~CallbackEpoch();
    CallbackEpoch(const CallbackEpoch&) = delete;
    CallbackEpoch& operator=(const CallbackEpoch&) = delete;
};
// As the main thread (on it, or in a main-heap section): drops the references kept for
// callbacks that have all ended since.
void release_retired();
// Whether this thread holds a protected object's lock now (call_from_main_thread refuses:
// the main thread may need the same lock).
bool holds_protected_locks();
// Main thread, at import: the locks. The types are readied on first use:
// parallel.dict and parallel.list come from the module's __getattr__ (module_getattr).
void init_protect();
PyObject* module_getattr(PyObject* module, PyObject* name);
PyObject* protect(PyObject* module, PyObject* obj);
PyObject* unprotect(PyObject* module, PyObject* obj);
PyObject* is_protected_py(PyObject* module, PyObject* obj);
PyObject* protect_stats(PyObject* module, PyObject* unused);
// The guard's attribute assignment on a main-owned object: done under the lock when the
// object is a protected instance (0, or -1 with an exception set); 1 when it is not one.
int protected_setattr(PyObject* obj, PyObject* name, PyObject* value);

} // namespace px::interp
