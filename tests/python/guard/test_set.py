"""MutationError for every write to a main-owned set from a context."""
from .guardlib import DEL_ITEM, guard_tests, guarded, method

SET = ("set",)
ADD = ("add", "insert", "update", "merge", "write")


def new_set():
    return {1, 2, 3}


def set_state(s):
    return sorted(s)


def set_case(ops, specialized=None):
    return guarded(make=new_set, state=set_state, types=SET, ops=ops, specialized=specialized)


@set_case(method("add", *ADD), specialized="PRECALL_NO_KW_METHOD_DESCRIPTOR_O")
def set_add(s):
    s.add(4)


@set_case(method("discard", *DEL_ITEM))
def set_discard(s):
    s.discard(1)


@set_case(method("remove", *DEL_ITEM))
def set_remove(s):
    s.remove(2)


@set_case(method("update", *ADD))
def set_update(s):
    s.update([5, 6])


@set_case(method("update", "|=", *ADD))
def set_inplace_or(s):
    s |= {7}


@set_case(method("clear", *DEL_ITEM))
def set_clear(s):
    s.clear()


@set_case(method("pop", *DEL_ITEM))
def set_pop(s):
    s.pop()


@set_case(method("difference_update", "-=", *DEL_ITEM))
def set_inplace_subtract(s):
    s -= {1}


@set_case(method("difference_update", *DEL_ITEM))
def set_difference_update(s):
    s.difference_update([1, 2])


@set_case(method("intersection_update", "&=", *DEL_ITEM, "swap", "update"))
def set_intersection_update(s):
    s.intersection_update({1})


@set_case(method("symmetric_difference_update", "^=", *ADD, *DEL_ITEM))
def set_symmetric_difference_update(s):
    s ^= {3, 4}


Guard = guard_tests(__name__)
