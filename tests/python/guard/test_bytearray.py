"""MutationError for every write to a main-owned bytearray from a context."""
from .guardlib import DEL_ITEM, INSTEAD_OR_COPY, RESIZE, SET_ITEM, guard_tests, guarded, method

BYTEARRAY = ("bytearray",)
GROW = ("insert", "extend", "append", *RESIZE)


def new_bytearray():
    ba = bytearray(b"abcd")
    ba.extend(b"ef")
    del ba[-2:]  # spare room, as for the list cases
    return ba


def bytearray_state(ba):
    return bytes(ba)


def ba_case(ops):
    return guarded(make=new_bytearray, state=bytearray_state, types=BYTEARRAY, ops=ops, instead=INSTEAD_OR_COPY)


@ba_case(SET_ITEM)
def bytearray_setitem(ba):
    ba[0] = 0x7A


@ba_case(SET_ITEM + ("slice",))
def bytearray_setitem_slice(ba):
    ba[1:3] = b"XYZ"


@ba_case(method("append", *GROW))
def bytearray_append(ba):
    ba.append(0x21)


@ba_case(method("extend", *GROW))
def bytearray_extend(ba):
    ba.extend(b"!!")


@ba_case(method("extend", "+=", "concat", *GROW))
def bytearray_inplace_add(ba):
    ba += b"?"


@ba_case(method("insert", *GROW))
def bytearray_insert(ba):
    ba.insert(0, 0x30)


@ba_case(DEL_ITEM)
def bytearray_delitem(ba):
    del ba[0]


@ba_case(method("pop", *DEL_ITEM, *RESIZE))
def bytearray_pop(ba):
    ba.pop()


@ba_case(method("remove", *DEL_ITEM, *RESIZE))
def bytearray_remove(ba):
    ba.remove(0x62)


@ba_case(method("clear", *DEL_ITEM, *RESIZE))
def bytearray_clear(ba):
    ba.clear()


@ba_case(method("reverse", *SET_ITEM))
def bytearray_reverse(ba):
    ba.reverse()


Guard = guard_tests(__name__)
