// callbacks.cpp — see callbacks.h.
#include "callbacks.h"

#include "px/guards.h"
#include "px/interp.h"

namespace px::interp {
namespace {

PyInterpreterState* g_interp = nullptr;
PyObject* g_traceback_module = nullptr; // imported by the main thread at import, kept

} // namespace

bool init_callbacks() {
    if (g_interp == nullptr)
        g_interp = PyThreadState_Get()->interp;
    if (g_traceback_module == nullptr)
        g_traceback_module = PyImport_ImportModule("traceback");
    return g_traceback_module != nullptr;
}

PyObject* take_exception() {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != nullptr && tb != nullptr)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
}

PyThreadState* new_worker_thread_state() {
    // It registers the state for this thread (PyGILState_*) and never takes the GIL.
    PyThreadState* ts = PyThreadState_New(g_interp);
    if (ts != nullptr)
        _PyThreadState_PxNoFreelists(ts);
    return ts;
}

void delete_worker_thread_state(PyThreadState* ts) {
    if (ts != nullptr) {
        PyThreadState_Clear(ts);
        PyThreadState_Delete(ts);
    }
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
    ts->_px_type_epoch++; // its attribute-lookup cache names objects about to be rewound
    if (run_tracked_deallocs() > 0)
        clear_thread_state(ts); // what those deallocs left (none ran twice: run_all forgot them)
    end_callback_memory();
}

void PendingError::clear() {
    Py_CLEAR(type);
    Py_CLEAR(args);
    Py_CLEAR(attrs);
    Py_CLEAR(text);
    Py_CLEAR(fallback);
    Py_CLEAR(error);
}

void clear_outcome(Outcome& out) {
    Py_CLEAR(out.result);
    Py_CLEAR(out.type);
    Py_CLEAR(out.args);
    Py_CLEAR(out.attrs);
    Py_CLEAR(out.text);
    Py_CLEAR(out.fallback);
}

// OSError keeps filename and filename2 outside args; (errno, strerror, filename, None,
// filename2) rebuilds them. nullptr, with no exception, for other exceptions.
static PyObject* os_error_args(PyObject* value) {
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
    // A MemoryError after the heap's limit refused memory is the limit's doing: it is
    // described as parallel.ContextMemoryError (a MemoryError) saying which limit and how to
    // raise it, with the same traceback (the heap lends the memory this takes).
    if (std::size_t limit = limit_hit();
        limit != 0 && PyErr_GivenExceptionMatches(type, PyExc_MemoryError) &&
        error_types().context_memory_error != nullptr) {
        PyObject* limit_error = PyObject_CallFunction(
            error_types().context_memory_error, "N",
            PyUnicode_FromFormat("the callback's context heap reached its limit of %zu bytes "
                                 "(PXKIT_CONTEXT_LIMIT sets it; by default a quarter of "
                                 "physical memory, 0 for none)",
                                 limit));
        if (limit_error != nullptr) {
            Py_SETREF(value, limit_error);
            Py_SETREF(type, Py_NewRef(Py_TYPE(limit_error)));
        }
        PyErr_Clear();
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

} // namespace px::interp
