"""bytes and bytearray built and changed inside the callback (items are only read)."""
from .harness import case, conformance_tests

DATA = [b"", b"a", b"hello world", bytes(range(256)), b"\x00\xff\x10\x80", b"A,B,,C", b"  pad  "]


@case(DATA)
def bytes_basic(b):
    return len(b), b[:3], b[-2:], b[::-1][:5], b + b"!", b * 2


@case(DATA)
def bytes_methods(b):
    return b.upper(), b.lower(), b.strip(), b.split(b","), b.replace(b"l", b"L"), b.count(b"l")


@case(DATA)
def bytes_find(b):
    return b.find(b"o"), b.rfind(b"\x00"), b.startswith(b"he"), b.endswith(b"C"), b"ll" in b


@case(DATA)
def bytes_hex_roundtrip(b):
    h = b.hex()
    return h, bytes.fromhex(h) == b, b.hex(":") if b else ""


@case(DATA)
def bytes_iterate_ints(b):
    return [x for x in b][:8], sum(b), max(b) if b else -1


@case(DATA)
def bytes_decode_latin1_and_utf8_replace(b):
    return b.decode("latin-1"), b.decode("utf-8", "replace"), b.decode("ascii", "ignore")


@case(DATA)
def bytes_decode_strict_caught(b):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError as e:
        return ("UnicodeDecodeError", e.start, e.end, e.reason)


@case(DATA)
def bytes_translate(b):
    table = bytes.maketrans(b"abc", b"xyz")
    return b.translate(table), b.translate(None, b"lo")


@case(DATA)
def bytes_join_and_partition(b):
    return b"-".join([b, b, b"x"]), b.partition(b" "), b.rpartition(b",")


@case(DATA)
def bytearray_build(b):
    ba = bytearray()
    for x in b:
        ba.append(x ^ 0x20)
    ba.extend(b"!!")
    return ba


@case(DATA)
def bytearray_mutate_local_copy(b):
    ba = bytearray(b)
    if ba:
        ba[0] = 0x41
        del ba[-1:]
    ba.insert(0, 0x7A)
    ba += b"end"
    ba.reverse()
    return ba, len(ba)


@case(DATA)
def bytearray_slice_assign(b):
    ba = bytearray(b)
    ba[1:3] = b"XYZW"
    ba[::2] = bytes(len(ba[::2]))
    return bytes(ba)


@case(DATA)
def bytearray_pop_remove_clear(b):
    ba = bytearray(b or b"q")
    last = ba.pop()
    first = ba[0] if ba else None
    if ba:
        ba.remove(ba[0])
    size = len(ba)
    ba.clear()
    return last, first, size, ba


@case(DATA)
def bytes_from_ints_and_compare(b):
    c = bytes(x for x in b if x % 2 == 0)
    return c, c < b, c == b, bytes(3), bytes([1, 2, 3])


@case([0, 1, 5, 300])
def bytes_bad_values_caught(n):
    try:
        return bytes([n])
    except ValueError as e:
        return str(e)


@case(DATA)
def bytes_percent_format(b):
    return b"%s|%5b|%x" % (b[:4], b[:2], len(b))


@case(DATA)
def memoryview_of_local_bytes(b):
    m = memoryview(bytearray(b))
    out = (m.tobytes()[:4], len(m), m[1:3].tobytes() if len(b) > 2 else b"", m.nbytes)
    m.release()
    return out


@case(DATA)
def memoryview_of_main_bytes_read(b):
    m = memoryview(b)
    out = bytes(m[:5]), m.readonly, m.format, m.itemsize
    m.release()
    return out


@case(DATA)
def bytes_isX(b):
    return b.isalpha(), b.isdigit(), b.isspace(), b.isupper(), b.isascii(), b.isalnum()


@case(DATA)
def bytes_expandtabs_center(b):
    return b.center(20, b"*"), b.ljust(5), b.zfill(8), b"\tx".expandtabs(tabsize=3)


Conformance = conformance_tests(__name__)
