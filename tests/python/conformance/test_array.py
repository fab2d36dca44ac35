"""array.array built, changed and read inside the callback; main arrays only read."""
import array

from .harness import case, conformance_tests

MAIN_INTS = array.array("i", range(-50, 50))
MAIN_DOUBLES = array.array("d", [0.5 * i for i in range(40)])
NS = [0, 1, 8, 100]


@case(NS)
def array_build_and_tolist(n):
    a = array.array("l", range(n))
    a.append(-1)
    a.extend([7, 8])
    a.insert(0, 99)
    return a.tolist(), len(a), a.itemsize, a.typecode


@case(NS)
def array_bytes_roundtrip(n):
    a = array.array("H", [i * 257 % 65536 for i in range(n)])
    b = a.tobytes()
    c = array.array("H")
    c.frombytes(b)
    return b, c.tolist() == a.tolist(), c == a


@case(NS)
def array_byteswap(n):
    a = array.array("I", range(n))
    a.byteswap()
    return a.tobytes(), a.tolist()[:3]


@case(NS)
def array_read_main_arrays(n):
    return MAIN_INTS[n % 100], MAIN_INTS[: n % 10].tolist(), sum(MAIN_DOUBLES), MAIN_INTS.count(n), MAIN_DOUBLES.index(0.5)


@case(NS)
def array_slicing_and_assignment(n):
    a = array.array("d", [float(i) for i in range(n + 5)])
    a[1:3] = array.array("d", [9.5, 8.5, 7.5])
    del a[::3]
    a.reverse()
    return a.tolist()


@case(NS)
def array_pop_remove_index(n):
    a = array.array("b", [i % 100 for i in range(n + 3)])
    last = a.pop()
    a.remove(a[0])
    return last, a.tolist(), a.index(a[-1]) if a else None, (a * 2).tolist()[:4]


@case(NS)
def array_compare_and_concat(n):
    a = array.array("i", range(n))
    b = array.array("i", range(n + 1))
    return a < b, a == b, (a + b).tolist()[-3:], a.buffer_info()[1]


@case(["b", "B", "h", "f", "d", "q", "u"])
def array_typecode_properties(code):
    a = array.array(code)
    return a.typecode, a.itemsize > 0, len(a)


@case([128, -129, 2**40])
def array_overflow_caught(v):
    try:
        return array.array("b", [v]).tolist()
    except OverflowError as e:
        return "OverflowError: " + str(e)


@case(["hello", "ünï", ""])
def array_unicode(s):
    a = array.array("u", s)
    return a.tounicode(), len(a), a.tolist()


@case(NS)
def array_memoryview_local(n):
    a = array.array("i", range(n + 2))
    m = memoryview(a)
    out = m.tolist(), m.format, m[1], m.nbytes
    m.release()
    return out


@case(NS)
def array_frombytes_of_main_array(n):
    b = MAIN_INTS.tobytes()[: 4 * n]
    a = array.array("i")
    a.frombytes(b)
    return a.tolist() == MAIN_INTS.tolist()[:n]


Conformance = conformance_tests(__name__)
