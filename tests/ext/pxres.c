/* pxres — a test extension for PX_DEALLOC: types whose instances own resources outside any
   heap (a malloc'd buffer and a file descriptor) and count what they acquire and release.

   Resource(size) acquires both; close() or tp_dealloc releases them, once. `ref` holds any
   object, so a test can keep an instance alive in a reference cycle (which a parallel
   context, running no GC, never collects). FlaggedResource is the same with
   Py_TPFLAGS_PX_DEALLOC set in its spec, as a C extension opts in; Resource is opted in at
   run time with parallel.track_dealloc(). Counters are atomic: workers make instances at
   once. Built by the tests with the interpreter's own compiler and flags. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

/* Under ASan or TSan malloc is the sanitizer's, and glibc's mallinfo2() reads zeros. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PXRES_SANITIZER_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define PXRES_SANITIZER_ALLOCATOR 1
#endif
#endif
#ifdef PXRES_SANITIZER_ALLOCATOR
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#ifndef Py_TPFLAGS_PX_DEALLOC
#error "pxres needs pxpython's headers (Py_TPFLAGS_PX_DEALLOC)"
#endif

static long long n_acquired, n_released, n_deallocs;
/* The sizes of the most recent deallocations, oldest first (a ring of 64). */
#define LOG_SIZE 64
static Py_ssize_t dealloc_sizes[LOG_SIZE];
static unsigned long long n_logged;

typedef struct {
    PyObject_HEAD char* buffer;
    Py_ssize_t size;
    int fd;
    PyObject* ref;
} Resource;

static void release(Resource* self) {
    if (self->buffer == NULL) {
        return;
    }
    free(self->buffer);
    self->buffer = NULL;
    close(self->fd);
    self->fd = -1;
    __atomic_add_fetch(&n_released, 1, __ATOMIC_RELAXED);
}

static int resource_init(Resource* self, PyObject* args, PyObject* kwds) {
    static char* names[] = {"size", NULL};
    Py_ssize_t size = 4096;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|n", names, &size)) {
        return -1;
    }
    if (self->buffer != NULL || size <= 0) {
        PyErr_SetString(PyExc_ValueError, "Resource(size): size > 0, and only once");
        return -1;
    }
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    self->buffer = malloc((size_t)size);
    if (self->buffer == NULL) {
        close(fd);
        PyErr_NoMemory();
        return -1;
    }
    memset(self->buffer, 0x5a, (size_t)size); /* touched, so the memory is really in use */
    self->size = size;
    self->fd = fd;
    __atomic_add_fetch(&n_acquired, 1, __ATOMIC_RELAXED);
    return 0;
}

static int resource_traverse(Resource* self, visitproc visit, void* arg) {
    Py_VISIT(self->ref);
    return 0;
}

static int resource_clear(Resource* self) {
    Py_CLEAR(self->ref);
    return 0;
}

static void resource_dealloc(Resource* self) {
    PyTypeObject* type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    __atomic_add_fetch(&n_deallocs, 1, __ATOMIC_RELAXED);
    unsigned long long slot = __atomic_fetch_add(&n_logged, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&dealloc_sizes[slot % LOG_SIZE], self->size, __ATOMIC_RELAXED);
    release(self);
    resource_clear(self);
    type->tp_free((PyObject*)self);
    Py_DECREF(type);
}

static PyObject* resource_close(Resource* self, PyObject* unused) {
    release(self);
    Py_RETURN_NONE;
}

static PyObject* resource_get_fd(Resource* self, void* closure) {
    return PyLong_FromLong(self->fd);
}

static PyObject* resource_get_ref(Resource* self, void* closure) {
    PyObject* ref = self->ref != NULL ? self->ref : Py_None;
    Py_INCREF(ref);
    return ref;
}

static int resource_set_ref(Resource* self, PyObject* value, void* closure) {
    Py_XINCREF(value);
    Py_XSETREF(self->ref, value);
    return 0;
}

static PyMethodDef resource_methods[] = {
    {"close", (PyCFunction)resource_close, METH_NOARGS, "Release the buffer and the fd now."},
    {NULL},
};

static PyGetSetDef resource_getset[] = {
    {"fd", (getter)resource_get_fd, NULL, "the file descriptor, -1 once released", NULL},
    {"ref", (getter)resource_get_ref, (setter)resource_set_ref, "any object", NULL},
    {NULL},
};

static PyType_Slot resource_slots[] = {
    {Py_tp_init, resource_init},         {Py_tp_dealloc, resource_dealloc},
    {Py_tp_traverse, resource_traverse}, {Py_tp_clear, resource_clear},
    {Py_tp_methods, resource_methods},   {Py_tp_getset, resource_getset},
    {Py_tp_new, PyType_GenericNew},      {0, NULL},
};

static PyType_Spec resource_spec = {
    "pxres.Resource", sizeof(Resource), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, resource_slots,
};

static PyType_Spec flagged_spec = {
    "pxres.FlaggedResource",
    sizeof(Resource),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_PX_DEALLOC,
    resource_slots,
};

static PyObject* counts(PyObject* module, PyObject* unused) {
    return Py_BuildValue("{sLsLsL}", "acquired", __atomic_load_n(&n_acquired, __ATOMIC_RELAXED),
                         "released", __atomic_load_n(&n_released, __ATOMIC_RELAXED), "deallocs",
                         __atomic_load_n(&n_deallocs, __ATOMIC_RELAXED));
}

static PyObject* dealloc_log(PyObject* module, PyObject* unused) {
    unsigned long long n = __atomic_load_n(&n_logged, __ATOMIC_RELAXED);
    unsigned long long first = n > LOG_SIZE ? n - LOG_SIZE : 0;
    PyObject* list = PyList_New(0);
    for (unsigned long long i = first; list != NULL && i < n; i++) {
        PyObject* size =
            PyLong_FromSsize_t(__atomic_load_n(&dealloc_sizes[i % LOG_SIZE], __ATOMIC_RELAXED));
        if (size == NULL || PyList_Append(list, size) < 0) {
            Py_XDECREF(size);
            Py_CLEAR(list);
            break;
        }
        Py_DECREF(size);
    }
    return list;
}

static PyObject* malloc_in_use(PyObject* module, PyObject* unused) {
#ifdef PXRES_SANITIZER_ALLOCATOR
    return PyLong_FromSize_t(__sanitizer_get_current_allocated_bytes());
#else
    struct mallinfo2 mi = mallinfo2();
    return PyLong_FromSize_t(mi.uordblks + mi.hblkhd);
#endif
}

static PyMethodDef module_methods[] = {
    {"counts", counts, METH_NOARGS, "counts() -> {'acquired', 'released', 'deallocs'}"},
    {"dealloc_log", dealloc_log, METH_NOARGS,
     "dealloc_log() -> list: sizes of the last 64 instances deallocated, oldest first"},
    {"malloc_in_use", malloc_in_use, METH_NOARGS,
     "malloc_in_use() -> int: bytes malloc has handed out and not taken back (glibc's, or "
     "the sanitizer's)"},
    {NULL},
};

static int pxres_exec(PyObject* module) {
    PyObject* resource = PyType_FromSpec(&resource_spec);
    if (resource == NULL || PyModule_AddObject(module, "Resource", resource) < 0) {
        Py_XDECREF(resource);
        return -1;
    }
    PyObject* flagged = PyType_FromSpec(&flagged_spec);
    if (flagged == NULL || PyModule_AddObject(module, "FlaggedResource", flagged) < 0) {
        Py_XDECREF(flagged);
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot pxres_slots[] = {
    {Py_mod_exec, pxres_exec},
    {0, NULL},
};

static struct PyModuleDef pxres_module = {
    PyModuleDef_HEAD_INIT, "pxres",     "resources outside the heap, counted (PX_DEALLOC tests)", 0,
    module_methods,        pxres_slots,
};

PyMODINIT_FUNC PyInit_pxres(void) { return PyModuleDef_Init(&pxres_module); }
