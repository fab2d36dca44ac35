"""struct: main-owned Struct objects, module-level functions (format cache), Structs made per call."""
import struct

from .harness import case, conformance_tests

HEADER = struct.Struct("<4sHHIq")
POINT = struct.Struct(">dd")
RECORDS = [
    (b"PXK1", 1, 2, 3, -4),
    (b"\x00\x00\x00\x00", 0, 0, 0, 0),
    (b"abcd", 65535, 1, 2**32 - 1, -(2**63)),
]
VALUES = [0, 1, -1, 127, -128, 2**15, 2**31 - 1]


@case(RECORDS)
def struct_main_struct_pack_unpack(rec):
    data = HEADER.pack(*rec)
    return data, HEADER.unpack(data), HEADER.size, HEADER.format


@case(RECORDS)
def struct_main_struct_pack_into_local_buffer(rec):
    buf = bytearray(HEADER.size + 4)
    HEADER.pack_into(buf, 2, *rec)
    return bytes(buf), HEADER.unpack_from(buf, 2)


@case([(0.0, 1.0), (-2.5, 1e300), (float("inf"), -0.0)])
def struct_main_struct_doubles(pt):
    data = POINT.pack(*pt)
    return data, POINT.unpack(data)


@case(VALUES)
def struct_module_functions_cached_formats(v):
    return struct.pack("<i", v), struct.unpack("<i", struct.pack("<i", v)), struct.calcsize("<iHq")


@case(VALUES)
def struct_module_all_int_codes(v):
    out = []
    for code in "bBhHiIlLqQ":
        try:
            out.append(struct.unpack("=" + code, struct.pack("=" + code, v))[0])
        except struct.error as e:
            out.append("struct.error: " + str(e))
    return out


@case(VALUES)
def struct_formats_made_from_item(v):
    fmt = f"<{abs(v) % 7 + 1}h"
    count = struct.calcsize(fmt) // 2
    return struct.pack(fmt, *range(count)), struct.unpack(fmt, bytes(range(count * 2)))


@case([1.5, -0.1, 1e-40, 65504.0, 1e39])
def struct_float_codes(x):
    out = []
    for code in "efd":
        try:
            out.append(repr(struct.unpack("<" + code, struct.pack("<" + code, x))[0]))
        except (OverflowError, struct.error) as e:
            out.append(type(e).__name__)
    return out


@case([b"", b"hi", b"longer than five"])
def struct_strings_and_padding(s):
    return struct.pack("5s", s), struct.pack("5p", s), struct.pack("x?xc", True, b"z")


@case(VALUES)
def struct_struct_made_in_callback(v):
    s = struct.Struct("!IhB")
    data = s.pack(abs(v) % 2**32, v % 2**15, abs(v) % 256)
    return data, s.unpack(data), list(s.iter_unpack(data * 3))


@case([b"\x01\x02\x03\x04" * 4, bytes(16)])
def struct_iter_unpack_main_struct(data):
    return [x for x in struct.iter_unpack("<HH", data)]


@case(["<i", "<q", "bad!", "3Z"])
def struct_errors_caught(fmt):
    try:
        return struct.pack(fmt, 2**40)
    except struct.error as e:
        return "struct.error: " + str(e)


@case(VALUES)
def struct_bytes_of_negative_and_endianness(v):
    return struct.pack("<h", v % 2**15 - 2**14), struct.pack(">h", v % 2**15 - 2**14), struct.pack("@h", 1)


Conformance = conformance_tests(__name__)
