"""MutationError for STORE_GLOBAL / DELETE_GLOBAL (a `global` statement), globals() writes, and
closure cells of main-owned closures (nonlocal, del, cell_contents)."""
from .guardlib import DEL_ATTR, DEL_ITEM, INSTEAD_OR_COPY, SET_ATTR, SET_ITEM, guard_tests, guarded

COUNTER = 0
DOOMED = "still here"

GLOBAL_TYPES = ("global", "dict", "module")
GLOBAL_OPS = ("global", "store_global", "delete_global") + SET_ITEM + DEL_ITEM


def no_target():
    return None


def globals_state(_):
    return COUNTER, globals().get("DOOMED", "<deleted>"), "CREATED" in globals()


def reset_globals():
    global COUNTER, DOOMED
    COUNTER = 0
    DOOMED = "still here"
    globals().pop("CREATED", None)


def global_case():
    return guarded(make=no_target, state=globals_state, types=GLOBAL_TYPES, ops=GLOBAL_OPS, reset=reset_globals)


@global_case()
def global_store(_):
    global COUNTER
    COUNTER = 5


@global_case()
def global_augmented_assign(_):
    global COUNTER
    COUNTER += 1


@global_case()
def global_store_new_name(_):
    global CREATED
    CREATED = 1


@global_case()
def global_delete(_):
    global DOOMED
    del DOOMED


@global_case()
def globals_dict_setitem(_):
    globals()["COUNTER"] = 7


# ---- closure cells of main-owned closures ----------------------------------------------------

def make_counter():
    """Returns a main-owned closure whose cell the callback tries to write."""
    count = 0

    def bump():
        nonlocal count
        count += 1
        return count

    return bump


def make_setter():
    value = "initial"

    def assign():
        nonlocal value
        value = "changed"

    return assign


def make_deleter():
    value = "initial"

    def delete():
        nonlocal value
        del value

    return delete


def cell_state(f):
    cell = f.__closure__[0]
    try:
        return cell.cell_contents
    except ValueError:
        return "<empty cell>"


CELL_TYPES = ("cell", "closure", "nonlocal")
CELL_OPS = ("nonlocal", "store_deref", "delete_deref", "cell") + SET_ATTR + DEL_ATTR


def call_closure(f):
    return f()


@guarded(make=make_counter, state=cell_state, types=CELL_TYPES, ops=CELL_OPS, instead=INSTEAD_OR_COPY)
def closure_nonlocal_augmented(f):
    return f()


@guarded(make=make_setter, state=cell_state, types=CELL_TYPES, ops=CELL_OPS, instead=INSTEAD_OR_COPY)
def closure_nonlocal_assign(f):
    return f()


@guarded(make=make_deleter, state=cell_state, types=CELL_TYPES, ops=CELL_OPS, instead=INSTEAD_OR_COPY)
def closure_nonlocal_delete(f):
    return f()


@guarded(make=make_setter, state=cell_state, types=CELL_TYPES, ops=CELL_OPS + ("cell_contents",),
         instead=INSTEAD_OR_COPY)
def closure_cell_contents_set(f):
    f.__closure__[0].cell_contents = "set from a context"


Guard = guard_tests(__name__)
