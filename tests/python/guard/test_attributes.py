"""MutationError for attribute set and delete on instances of main classes, on main classes
themselves and on modules, including the specialised STORE_ATTR_* paths once warmed."""
import sys
import types

from .guardlib import DEL_ATTR, SET_ATTR, SET_ITEM, guard_tests, guarded

ATTR_WRITE = SET_ATTR + DEL_ATTR


class Plain:
    """Instances keep their attributes in the class's shared-keys values (3.11 inline values)."""

    label = "class attribute"

    def __init__(self):
        self.a = 1
        self.b = 2


class Other:
    pass


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self):
        self.a = 1
        self.b = 2


class WithProperty:
    def __init__(self):
        self._v = 1

    @property
    def v(self):
        return self._v

    @v.setter
    def v(self, value):
        self._v = value


def new_plain():
    return Plain()


def new_hinted():
    """A Plain whose __dict__ is an ordinary dict: STORE_ATTR_WITH_HINT once warmed."""
    o = Plain()
    o.__dict__ = {"a": 1, "b": 2}
    return o


def instance_state(o):
    return type(o).__name__, dict(vars(o))


def slotted_state(o):
    return tuple(getattr(o, n, "<unset>") for n in Slotted.__slots__)


def instance_case(ops, make=new_plain, types=("Plain",), specialized=None):
    return guarded(make=make, state=instance_state, types=types, ops=ops, specialized=specialized)


# ---- instances of a main class -----------------------------------------------------------------

@instance_case(SET_ATTR, specialized="STORE_ATTR_INSTANCE_VALUE")
def inst_setattr_existing(o):
    o.a = 5


@instance_case(SET_ATTR)
def inst_setattr_new_name(o):
    o.brand_new = 5


@instance_case(SET_ATTR)
def inst_setattr_augmented(o):
    o.b += 1


@instance_case(SET_ATTR)
def inst_setattr_builtin(o):
    setattr(o, "a", 7)


@instance_case(SET_ATTR)
def inst_object_setattr(o):
    object.__setattr__(o, "a", 8)


@instance_case(DEL_ATTR)
def inst_delattr(o):
    del o.a


@instance_case(DEL_ATTR)
def inst_delattr_builtin(o):
    delattr(o, "b")


@instance_case(SET_ATTR + ("__class__", "class"))
def inst_set_class(o):
    o.__class__ = Other


@instance_case(SET_ATTR + ("__dict__",))
def inst_set_dict(o):
    o.__dict__ = {}


@instance_case(SET_ITEM, types=("dict", "Plain"))
def inst_dict_setitem(o):
    o.__dict__["a"] = 6


@instance_case(SET_ATTR, make=new_hinted, specialized="STORE_ATTR_WITH_HINT")
def inst_setattr_with_hint(o):
    o.a = 5


@guarded(make=Slotted, state=slotted_state, types=("Slotted",), ops=SET_ATTR, specialized="STORE_ATTR_SLOT")
def slot_setattr(o):
    o.a = 5


@guarded(make=Slotted, state=slotted_state, types=("Slotted",), ops=DEL_ATTR)
def slot_delattr(o):
    del o.b


@guarded(make=WithProperty, state=instance_state, types=("WithProperty",), ops=SET_ATTR)
def property_setter_writes_main_instance(o):
    o.v = 42


# ---- main classes themselves -----------------------------------------------------------------

def new_class():
    """A fresh main-owned class per test (so warm-up writes never touch the target)."""
    return type("MainClass", (Plain,), {"dims": 2, "doomed": "x"})


def class_state(cls):
    return {k: v for k, v in vars(cls).items() if not k.startswith("__")}


CLASS_TYPES = ("MainClass", "type")


@guarded(make=new_class, state=class_state, types=CLASS_TYPES, ops=SET_ATTR)
def class_setattr_new_name(cls):
    cls.flag = True


@guarded(make=new_class, state=class_state, types=CLASS_TYPES, ops=SET_ATTR)
def class_setattr_existing(cls):
    cls.dims = 3


@guarded(make=new_class, state=class_state, types=CLASS_TYPES, ops=SET_ATTR)
def class_setattr_builtin(cls):
    setattr(cls, "label", "changed")


@guarded(make=new_class, state=class_state, types=CLASS_TYPES, ops=DEL_ATTR)
def class_delattr(cls):
    del cls.doomed


@guarded(make=new_class, state=class_state, types=CLASS_TYPES, ops=SET_ATTR)
def class_set_method(cls):
    cls.method = lambda self: 1


# ---- modules -------------------------------------------------------------------------------------

def new_module():
    mod = types.ModuleType("pxguard_target")
    mod.value = 1
    mod.doomed = 2
    return mod


def module_state(mod):
    return {k: v for k, v in vars(mod).items() if k not in ("__builtins__",)}


MODULE_TYPES = ("module", "dict")


@guarded(make=new_module, state=module_state, types=MODULE_TYPES, ops=SET_ATTR)
def module_setattr_new_name(mod):
    mod.added = True


@guarded(make=new_module, state=module_state, types=MODULE_TYPES, ops=SET_ATTR)
def module_setattr_existing(mod):
    mod.value = 2


@guarded(make=new_module, state=module_state, types=MODULE_TYPES, ops=DEL_ATTR)
def module_delattr(mod):
    del mod.doomed


@guarded(make=new_module, state=module_state, types=MODULE_TYPES, ops=SET_ITEM)
def module_dict_setitem(mod):
    vars(mod)["value"] = 3


THIS_MODULE_SENTINEL = "unchanged"


def this_module():
    return sys.modules[__name__]


def this_module_state(mod):
    return getattr(mod, "THIS_MODULE_SENTINEL", "<deleted>"), hasattr(mod, "ADDED_FROM_CONTEXT")


def reset_this_module():
    global THIS_MODULE_SENTINEL
    THIS_MODULE_SENTINEL = "unchanged"
    globals().pop("ADDED_FROM_CONTEXT", None)


@guarded(make=this_module, state=this_module_state, types=MODULE_TYPES, ops=SET_ATTR, reset=reset_this_module)
def imported_module_setattr(mod):
    mod.THIS_MODULE_SENTINEL = "changed"


@guarded(make=this_module, state=this_module_state, types=MODULE_TYPES, ops=SET_ATTR, reset=reset_this_module)
def imported_module_setattr_new_name(mod):
    mod.ADDED_FROM_CONTEXT = 1


Guard = guard_tests(__name__)
