/* size_histogram.c — which sizes a CPython 3.11 callback asks PyObject_Malloc for.
 *
 * Embeds the system libpython3.11, wraps the object-domain allocator (PyMem_SetAllocator on
 * PYMEM_DOMAIN_OBJ, forwarding every call to the allocator it replaces) and runs a pure-Python
 * callback: loops, int and float arithmetic, string building, list/dict/set/tuple work, a small
 * class, an exception, json.dumps and json.loads. The wrapper counts the size of every
 * PyObject_Malloc and PyObject_Calloc call made while the callback runs; start-up, imports,
 * compiling the workload and one warm-up call are not counted. The result is printed as the C++
 * header bench/python_sizes.h, which px_bench's `mix` case draws its sizes from:
 *
 *     build/release/bench/px_size_histogram > bench/python_sizes.h
 *
 * These are the calls the context heap will see: objects served by CPython's own free lists
 * (floats, small tuples, lists, dicts, frames on the data stack) never reach PyObject_Malloc,
 * so they are not in the histogram either. Reallocs (a list or a string growing) are counted
 * apart and reported in the header's comment, not drawn by the mix.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Sizes up to kExact are counted one by one; bigger requests only in total (the generated
 * header says how many there were). */
#define kExact 65536
#define kWarmupCalls 1
#define kCountedCalls 50

static PyMemAllocatorEx g_inner;
static int g_counting;
static uint64_t g_count[kExact + 1];
static uint64_t g_over, g_over_bytes; /* requests above kExact */
static uint64_t g_reallocs, g_calloc_calls;

static void note(size_t size) {
    if (!g_counting)
        return;
    if (size <= kExact) {
        ++g_count[size];
    } else {
        ++g_over;
        g_over_bytes += size;
    }
}

static void* counting_malloc(void* ctx, size_t size) {
    (void)ctx;
    note(size);
    return g_inner.malloc(g_inner.ctx, size);
}

static void* counting_calloc(void* ctx, size_t nelem, size_t elsize) {
    (void)ctx;
    if (g_counting)
        ++g_calloc_calls;
    note(nelem * elsize);
    return g_inner.calloc(g_inner.ctx, nelem, elsize);
}

static void* counting_realloc(void* ctx, void* p, size_t size) {
    (void)ctx;
    if (g_counting)
        ++g_reallocs;
    return g_inner.realloc(g_inner.ctx, p, size);
}

static void counting_free(void* ctx, void* p) {
    (void)ctx;
    g_inner.free(g_inner.ctx, p);
}

/* The callback. Written the way a user would write one, not tuned to any allocator. */
static const char kWorkload[] =
    "import json\n"
    "\n"
    "class Order:\n"
    "    def __init__(self, oid, customer, amount):\n"
    "        self.oid = oid\n"
    "        self.customer = customer\n"
    "        self.amount = amount\n"
    "        self.lines = []\n"
    "    def add(self, sku, qty, price):\n"
    "        self.lines.append((sku, qty, price))\n"
    "        self.amount += qty * price\n"
    "    def as_dict(self):\n"
    "        return {'id': self.oid, 'customer': self.customer,\n"
    "                'amount': round(self.amount, 2),\n"
    "                'lines': [list(line) for line in self.lines]}\n"
    "\n"
    "def callback(seed):\n"
    "    # loops and arithmetic: ints beyond the small-int cache, floats, one big int\n"
    "    total, acc = 0, 0.0\n"
    "    for i in range(seed, seed + 3000):\n"
    "        total += (i * i) % 10007\n"
    "        acc += i / 7.0 - (i % 13) * 0.5\n"
    "    big = 1\n"
    "    for i in range(1, 80):\n"
    "        big *= i + seed\n"
    "    # string building\n"
    "    parts = []\n"
    "    for i in range(400):\n"
    "        parts.append(f'item-{i + seed}:{i * 3.25:.2f}')\n"
    "    text = ','.join(parts)\n"
    "    words = text.split(',')\n"
    "    shout = [w.upper() for w in words if w.endswith('0')]\n"
    "    s = ''\n"
    "    for w in words[:150]:\n"
    "        s += w[:6] + '|'\n"
    "    name = 'customer %d of %s' % (seed, 'north')\n"
    "    # objects, lists, dicts, sets, tuples\n"
    "    orders = []\n"
    "    for i in range(120):\n"
    "        o = Order(seed * 1000 + i, 'c%d' % (i % 17), 0.0)\n"
    "        for j in range(i % 4 + 1):\n"
    "            o.add('sku-%d' % (j * 31 + i), j + 1, 9.5 + j)\n"
    "        orders.append(o)\n"
    "    by_customer = {}\n"
    "    for o in orders:\n"
    "        by_customer.setdefault(o.customer, []).append(o.oid)\n"
    "    ranked = sorted(orders, key=lambda o: (-o.amount, o.oid))\n"
    "    index = dict(zip(words[:200], range(200)))\n"
    "    squares = {k: v * v for k, v in index.items() if v % 2}\n"
    "    pairs = tuple((i, i + seed) for i in range(150))\n"
    "    seen = set(range(seed % 7, 900, 3))\n"
    "    try:\n"
    "        index['missing']\n"
    "    except KeyError as e:\n"
    "        err = str(e)\n"
    "    # json out and back\n"
    "    doc = {'name': name, 'top': [o.as_dict() for o in ranked[:40]],\n"
    "           'groups': by_customer, 'total': total, 'acc': acc}\n"
    "    out = json.dumps(doc)\n"
    "    back = json.loads(out)\n"
    "    return (len(out) + len(s) + len(shout) + len(squares) + len(pairs) + len(seen)\n"
    "            + len(back['top']) + len(err) + (big & 0xff))\n";

static void fail(const char* what) {
    if (PyErr_Occurred())
        PyErr_Print();
    fprintf(stderr, "size_histogram: %s\n", what);
    exit(1);
}

static void call(PyObject* fn, long seed) {
    PyObject* r = PyObject_CallFunction(fn, "l", seed);
    if (r == NULL)
        fail("the workload raised");
    Py_DECREF(r);
}

/* A script given on the command line replaces the built-in workload; it must define
 * callback(seed). The whole file is read into memory first. */
static char* read_script(const char* path) {
    FILE* f = fopen(path, "rb");
    if (f == NULL)
        fail("cannot open the script");
    static char buffer[1 << 20];
    size_t n = fread(buffer, 1, sizeof buffer - 1, f);
    fclose(f);
    if (n == sizeof buffer - 1)
        fail("the script is larger than 1 MiB");
    buffer[n] = '\0';
    return buffer;
}

int main(int argc, char** argv) {
    if (argc > 2) {
        fprintf(stderr, "usage: %s [script.py defining callback(seed)]\n", argv[0]);
        return 2;
    }
    const char* source = argc == 2 ? read_script(argv[1]) : kWorkload;
    Py_InitializeEx(0);
    PyObject* module = PyImport_AddModule("__main__");
    PyObject* globals = module ? PyModule_GetDict(module) : NULL;
    if (globals == NULL)
        fail("no __main__");
    PyObject* r = PyRun_String(source, Py_file_input, globals, globals);
    if (r == NULL)
        fail("the workload does not compile or import");
    Py_DECREF(r);
    PyObject* fn = PyDict_GetItemString(globals, "callback");
    if (fn == NULL)
        fail("no callback()");

    /* Installed after start-up: blocks allocated before go through the wrapper to the
     * allocator that made them, so the swap is safe. */
    PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &g_inner);
    PyMemAllocatorEx counting = {NULL, counting_malloc, counting_calloc, counting_realloc,
                                 counting_free};
    PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &counting);

    long seed = 1;
    for (int i = 0; i < kWarmupCalls; ++i)
        call(fn, seed++);
    g_counting = 1;
    for (int i = 0; i < kCountedCalls; ++i)
        call(fn, seed++);
    g_counting = 0;

    uint64_t total = g_over, distinct = 0, upto[5] = {0};
    const size_t bounds[5] = {64, 128, 256, 512, 1024};
    for (size_t s = 0; s <= kExact; ++s) {
        total += g_count[s];
        distinct += g_count[s] != 0;
        for (int b = 0; b < 5; ++b)
            if (s <= bounds[b])
                upto[b] += g_count[s];
    }
    if (total == 0)
        fail("no allocation was counted");

    printf("// python_sizes.h — GENERATED by bench/size_histogram.c; do not edit by hand.\n");
    printf("//\n");
    printf(
        "// Sizes of the PyObject_Malloc and PyObject_Calloc calls a pure-Python callback makes\n");
    printf("// under Debian's libpython%d.%d (%s), counted by wrapping\n", PY_MAJOR_VERSION,
           PY_MINOR_VERSION, PY_VERSION);
    printf("// the object-domain allocator over %d calls of the callback in size_histogram.c,\n",
           kCountedCalls);
    printf("// after %d uncounted warm-up call(s). Regenerate with\n", kWarmupCalls);
    printf("//     build/release/bench/px_size_histogram > bench/python_sizes.h\n");
    if (argc == 2)
        printf("// NOT the built-in workload: this table was made with the script %s\n", argv[1]);
    printf("//\n");
    printf("// %llu allocations (%llu of them calloc), %llu distinct sizes; %llu reallocs were\n",
           (unsigned long long)total, (unsigned long long)g_calloc_calls,
           (unsigned long long)distinct, (unsigned long long)g_reallocs);
    printf("// made besides and are not in the table. Cumulative share of the allocations:\n");
    printf("//  ");
    for (int b = 0; b < 5; ++b)
        printf(" <=%zu: %.2f%%%s", bounds[b], 100.0 * (double)upto[b] / (double)total,
               b < 4 ? "," : "\n");
    printf("// Requests above %d bytes: %llu (%llu bytes), not in the table.\n", kExact,
           (unsigned long long)g_over, (unsigned long long)g_over_bytes);
    printf("#pragma once\n\n#include <cstddef>\n#include <cstdint>\n\n");
    printf("namespace px::bench {\n\n");
    printf("struct SizeCount {\n    std::size_t size;\n    std::uint64_t count;\n};\n\n");
    printf("// {size in bytes, number of calls}, by size; one a line, as generated.\n");
    printf("// clang-format off\n");
    printf("inline constexpr SizeCount kPythonSizes[] = {\n");
    for (size_t s = 0; s <= kExact; ++s)
        if (g_count[s])
            printf("    {%zu, %llu},\n", s, (unsigned long long)g_count[s]);
    printf("};\n// clang-format on\n\n} // namespace px::bench\n");
    return 0;
}
