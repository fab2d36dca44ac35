// main_calls.cpp — parallel.call_from_main_thread (API.md "Main-thread interaction").
//
// From a context: the arguments are cloned onto the main heap (in a main-heap section), the
// call is handed to the main thread where it waits (parallel.map's pool, or parallel.run()'s
// loop) and the context blocks until it has run; the result is cloned back into the context
// and the main-heap objects are released in a section. An exception raised by func comes
// back as the same type with the same (cloned) arguments. Calls run one at a time, on the
// main thread, while the other contexts keep running: func may change main-thread state that
// contexts do not read directly (a counter, a database connection), never state they read.
#include <Python.h>

#include <functional>

#include "callbacks.h"
#include "px/guards.h"
#include "px/interp.h"

namespace px::interp {
namespace {

CloneOptions clone_options(const char* root, bool share_main_scalars) {
    CloneOptions options;
    options.clone_error = error_types().clone_error;
    options.root = root;
    options.share_main_scalars = share_main_scalars;
    return options;
}

// In a section: drops main-heap references taken for a call.
void release_main(PyObject* a, PyObject* b, PyObject* c) {
    if (PxInterp_main_heap_enter()) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_XDECREF(c);
        PxInterp_main_heap_exit();
    } else {
        PyErr_Clear(); // the main thread stopped waiting: leaked rather than freed wrongly
    }
}

PyObject* call_in_context(PyObject* func, PyObject* args, PyObject* kwargs) {
    if (holds_protected_locks()) {
        PyErr_SetString(PyExc_RuntimeError,
                        "parallel.call_from_main_thread() cannot be called while this context "
                        "holds a protected object's lock (from a sort key, __eq__ or __hash__ "
                        "run by one of its operations): the main thread may need that lock");
        return nullptr;
    }
    if (is_context_memory(func)) {
        PyErr_SetString(PyExc_TypeError,
                        "parallel.call_from_main_thread(): func was made in this parallel "
                        "context; pass a function defined on the main thread (at module level)");
        return nullptr;
    }
    // The arguments onto the main heap.
    PyObject* main_args = nullptr;
    PyObject* main_kwargs = nullptr;
    if (!PxInterp_main_heap_enter())
        return nullptr;
    main_args = clone(args, clone_options("call_from_main_thread() argument", true));
    if (main_args != nullptr && kwargs != nullptr) {
        main_kwargs =
            clone(kwargs, clone_options("call_from_main_thread() keyword argument", true));
        if (main_kwargs == nullptr)
            Py_CLEAR(main_args);
    }
    // A CloneError, made on the main heap: rebuilt here, below.
    PyObject* evalue = main_args == nullptr ? take_exception() : nullptr;
    PxInterp_main_heap_exit();
    if (main_args == nullptr) {
        // A copy made here (str() of the exception, and even PyUnicode_FromFormat("%S"),
        // return its main-owned message itself, uncounted in a context and freed with the
        // exception just below).
        PyObject* text = evalue ? PyObject_Str(evalue) : nullptr;
        PyObject* message = text ? clone(text, clone_options("message", false)) : nullptr;
        release_main(evalue, nullptr, nullptr);
        Py_XDECREF(text); // counted only if the context made it
        if (message != nullptr) {
            PyErr_SetObject(error_types().clone_error ? error_types().clone_error : PyExc_TypeError,
                            message);
            Py_DECREF(message);
        }
        return nullptr;
    }

    // The call, on the main thread.
    PyObject* result = nullptr; // main heap
    PyObject* error = nullptr;  // main heap: the exception func raised
    const char* refusal = nullptr;
    bool ran = run_on_main(
        [&] {
            MainHeapTurn turn;
            result = PyObject_Call(func, main_args, main_kwargs);
            if (result == nullptr)
                error = take_exception();
            Py_CLEAR(main_args);
            Py_CLEAR(main_kwargs);
        },
        &refusal);
    if (!ran) {
        release_main(main_args, main_kwargs, nullptr);
        PyErr_Format(PyExc_RuntimeError, "parallel.call_from_main_thread(): %s", refusal);
        return nullptr;
    }

    // Back in the context: everything is copied (a shared main str would outlive nothing once
    // the result is released below).
    PyObject* out = nullptr;
    if (result != nullptr) {
        out = clone(result, clone_options("call_from_main_thread() result", false));
    } else if (error != nullptr) {
        PyObject* eargs = PyObject_GetAttrString(error, "args");
        PyObject* copy = eargs ? clone(eargs, clone_options("exception.args", false)) : nullptr;
        Py_XDECREF(eargs);
        PyObject* exc =
            copy ? PyObject_Call(reinterpret_cast<PyObject*>(Py_TYPE(error)), copy, nullptr)
                 : nullptr;
        Py_XDECREF(copy);
        if (exc != nullptr && PyExceptionInstance_Check(exc)) {
            PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc)), exc);
        } else if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_RuntimeError,
                         "parallel.call_from_main_thread(): the function raised %.200s",
                         Py_TYPE(error)->tp_name);
        }
        Py_XDECREF(exc);
    } else {
        PyErr_SetString(PyExc_SystemError, "call_from_main_thread(): no result and no error");
    }
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    release_main(result, error, nullptr);
    PyErr_Restore(t, v, tb);
    return out;
}

} // namespace

bool run_on_main(const std::function<void()>& fn, const char** refusal) {
    if (map_call_on_main(fn))
        return true;
    return server_call_on_main(fn, refusal);
}

PyObject* call_on_main(PyObject*, PyObject* args, PyObject* kwargs) {
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (n < 1) {
        PyErr_SetString(PyExc_TypeError, "call_from_main_thread() needs a function to call");
        return nullptr;
    }
    PyObject* func = PyTuple_GET_ITEM(args, 0);
    if (!PyCallable_Check(func)) {
        PyErr_Format(PyExc_TypeError, "call_from_main_thread(): %.200s is not callable",
                     Py_TYPE(func)->tp_name);
        return nullptr;
    }
    PyObject* rest = PyTuple_GetSlice(args, 1, n);
    if (rest == nullptr)
        return nullptr;
    PyObject* result = in_parallel_context() ? call_in_context(func, rest, kwargs)
                                             : PyObject_Call(func, rest, kwargs);
    Py_DECREF(rest);
    return result;
}

PyObject* call_from_main_thread(PyObject* module, PyObject* args, PyObject* kwargs) {
    // On the main thread with only a function: the decorator form, a callable that makes the
    // call (and simply calls func on the main thread).
    if (!in_parallel_context() && PyTuple_GET_SIZE(args) == 1 &&
        (kwargs == nullptr || PyDict_GET_SIZE(kwargs) == 0)) {
        PyObject* func = PyTuple_GET_ITEM(args, 0);
        if (!PyCallable_Check(func)) {
            PyErr_Format(PyExc_TypeError, "call_from_main_thread(): %.200s is not callable",
                         Py_TYPE(func)->tp_name);
            return nullptr;
        }
        PyObject* functools = PyImport_ImportModule("functools");
        PyObject* partial = functools ? PyObject_GetAttrString(functools, "partial") : nullptr;
        Py_XDECREF(functools);
        PyObject* target = PyObject_GetAttrString(module, "_call_on_main");
        PyObject* wrapper = partial && target
                                ? PyObject_CallFunctionObjArgs(partial, target, func, nullptr)
                                : nullptr;
        Py_XDECREF(partial);
        Py_XDECREF(target);
        if (wrapper != nullptr) {
            // functools.update_wrapper keeps the name and docstring.
            PyObject* ft = PyImport_ImportModule("functools");
            PyObject* r =
                ft ? PyObject_CallMethod(ft, "update_wrapper", "OO", wrapper, func) : nullptr;
            Py_XDECREF(ft);
            if (r == nullptr)
                PyErr_Clear(); // a partial takes no __name__: that is fine
            Py_XDECREF(r);
        }
        return wrapper;
    }
    return call_on_main(module, args, kwargs);
}

} // namespace px::interp
