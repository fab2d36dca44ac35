"""MutationError for every write to a main-owned dict from a context."""
from .guardlib import DEL_ITEM, RESIZE, SET_ITEM, guard_tests, guarded, method

DICT = ("dict",)


def new_dict():
    return {"a": 1, "b": [2], "c": 3}


def dict_state(d):
    return list(d.items())


def dict_case(ops, specialized=None):
    return guarded(make=new_dict, state=dict_state, types=DICT, ops=ops, specialized=specialized)


@dict_case(SET_ITEM, specialized="STORE_SUBSCR_DICT")
def dict_setitem_new_key(d):
    d["new"] = 1


@dict_case(SET_ITEM, specialized="STORE_SUBSCR_DICT")
def dict_setitem_existing_key(d):
    d["a"] = 99


@dict_case(SET_ITEM)
def dict_setitem_augmented(d):
    d["c"] += 1


@dict_case(SET_ITEM)
def dict_setitem_dunder_call(d):
    dict.__setitem__(d, "x", 1)


@dict_case(DEL_ITEM)
def dict_delitem(d):
    del d["a"]


@dict_case(method("clear", *DEL_ITEM, *RESIZE))
def dict_clear(d):
    d.clear()


@dict_case(method("update", "merge", *SET_ITEM))
def dict_update_mapping(d):
    d.update({"u": 1, "a": 0})


@dict_case(method("update", "merge", *SET_ITEM))
def dict_update_keywords(d):
    d.update(k=1)


@dict_case(method("update", "merge", "|=", *SET_ITEM))
def dict_inplace_or(d):
    d |= {"z": 26}


@dict_case(method("pop", *DEL_ITEM))
def dict_pop(d):
    d.pop("a")


@dict_case(method("popitem", *DEL_ITEM))
def dict_popitem(d):
    d.popitem()


@dict_case(method("setdefault", *SET_ITEM))
def dict_setdefault_new_key(d):
    d.setdefault("new", [])


Guard = guard_tests(__name__)
