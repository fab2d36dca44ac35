"""Classes defined inside the callback; instances and classes defined on main only read."""
import abc
import dataclasses
import enum

from .harness import case, conformance_tests


class Point:
    """Main-owned class; callbacks read instances, call methods and make new instances."""

    dims = 2

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def norm2(self):
        return self.x * self.x + self.y * self.y

    def moved(self, dx, dy):
        return Point(self.x + dx, self.y + dy)

    @property
    def as_tuple(self):
        return (self.x, self.y)

    @classmethod
    def origin(cls):
        return cls(0, 0)

    @staticmethod
    def describe():
        return "Point"

    def __eq__(self, other):
        return isinstance(other, Point) and self.as_tuple == other.as_tuple

    def __hash__(self):
        return hash(self.as_tuple)

    def __repr__(self):
        return f"Point({self.x!r}, {self.y!r})"

    def __lt__(self, other):
        return self.as_tuple < other.as_tuple


class Point3(Point):
    dims = 3

    def __init__(self, x, y, z):
        super().__init__(x, y)
        self.z = z

    def norm2(self):
        return super().norm2() + self.z * self.z


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a = a
        self.b = b


@dataclasses.dataclass(frozen=True)
class Frozen:
    name: str
    size: int = 0


class Color(enum.Enum):
    RED = 1
    GREEN = 2


POINTS = [Point(1, 2), Point(-3, 4), Point3(1, 2, 3), Point(0.5, 0.25)]


@case(POINTS)
def main_instance_read_attrs(p):
    return p.x, p.y, getattr(p, "z", None), p.dims, type(p).__name__, hasattr(p, "nope")


@case(POINTS)
def main_instance_call_methods(p):
    return p.norm2(), p.as_tuple, p.describe(), Point.describe(), repr(p), str(p)


@case(POINTS)
def main_instance_new_instances(p):
    q = p.moved(1, 1)
    r = Point.origin()
    return q.as_tuple, r.as_tuple, q == p, q == Point(p.x + 1, p.y + 1), type(q).__name__


@case(POINTS)
def main_instance_new_instance_new_attribute(p):
    q = Point(p.x, p.y)
    q.label = "made in callback"
    q.x = 100
    return vars(q)


@case(POINTS)
def main_instance_isinstance_and_mro(p):
    return (isinstance(p, Point), isinstance(p, Point3), issubclass(type(p), Point),
            [c.__name__ for c in type(p).__mro__])


@case(POINTS)
def main_instance_vars_and_dir(p):
    return sorted(vars(p)), "norm2" in dir(p), p.__dict__.get("x")


@case(POINTS)
def main_instance_hash_eq_sort(p):
    pts = [p, Point(0, 0), Point(5, -5)]
    return hash(p) == hash(Point(p.x, p.y)), [q.as_tuple for q in sorted(pts)], p in {p: 1}


@case([Slotted(1, 2), Slotted("a", None)])
def main_slotted_instance_read(s):
    return s.a, s.b, Slotted.__slots__, hasattr(s, "__dict__")


@case([Frozen("x"), Frozen("y", 3)])
def main_frozen_dataclass_read(f):
    g = dataclasses.replace(f, size=f.size + 1)
    return dataclasses.astuple(f), dataclasses.asdict(g), f == Frozen(f.name, f.size), repr(g)


@case([1, 2])
def main_enum_read(v):
    c = Color(v)
    return c.name, c.value, c is Color.RED, [m.name for m in Color], Color["GREEN"].value


@case([0, 1, 5])
def class_defined_inside_basic(n):
    class Box:
        count_default = 0

        def __init__(self, v):
            self.v = v
            self.items = []

        def add(self, x):
            self.items.append(x)
            return self

        def total(self):
            return self.v + sum(self.items)

    b = Box(n).add(1).add(2)
    b.extra = "x"
    Box.count_default = 9
    return b.total(), b.items, vars(b), Box.count_default, Box.__name__


@case([0, 1, 5])
def class_inside_inheritance_super(n):
    class Base:
        def greet(self):
            return "base"

    class Mid(Base):
        def greet(self):
            return "mid>" + super().greet()

    class Leaf(Mid):
        def greet(self):
            return "leaf>" + super().greet()

    return Leaf().greet(), [c.__name__ for c in Leaf.__mro__], n


@case([0, 1, 5])
def class_inside_subclassing_main_class(n):
    class Named(Point):
        def __init__(self, x, y, name):
            super().__init__(x, y)
            self.name = name

        def norm2(self):
            return -super().norm2()

    p = Named(n, n + 1, "nm")
    return p.norm2(), p.name, isinstance(p, Point), repr(p)


@case([0, 1, 5])
def class_inside_properties_and_slots(n):
    class Temp:
        __slots__ = ("_c",)

        def __init__(self, c):
            self._c = c

        @property
        def f(self):
            return self._c * 9 / 5 + 32

        @f.setter
        def f(self, value):
            self._c = (value - 32) * 5 / 9

    t = Temp(n)
    before = t.f
    t.f = 212
    try:
        t.other = 1
    except AttributeError:
        err = "AttributeError"
    return before, t._c, err


@case([0, 1, 5])
def class_inside_dunder_methods(n):
    class Vec:
        def __init__(self, *xs):
            self.xs = xs

        def __add__(self, o):
            return Vec(*(a + b for a, b in zip(self.xs, o.xs)))

        def __mul__(self, k):
            return Vec(*(a * k for a in self.xs))

        __rmul__ = __mul__

        def __len__(self):
            return len(self.xs)

        def __getitem__(self, i):
            return self.xs[i]

        def __iter__(self):
            return iter(self.xs)

        def __eq__(self, o):
            return self.xs == o.xs

        def __bool__(self):
            return any(self.xs)

        def __contains__(self, x):
            return x in self.xs

        def __repr__(self):
            return f"Vec{self.xs}"

    v = Vec(1, 2, n)
    w = 2 * v + v * 3
    return repr(w), len(w), w[2], list(w), bool(Vec(0)), n in v, v == Vec(1, 2, n)


@case([0, 1, 5])
def class_inside_classmethod_staticmethod(n):
    class Registry:
        prefix = "r"

        @classmethod
        def make(cls, x):
            return f"{cls.prefix}{x}"

        @staticmethod
        def plain(x):
            return x * 2

    class Sub(Registry):
        prefix = "s"

    return Registry.make(n), Sub.make(n), Sub.plain(n), Sub().make(n)


@case([0, 1, 5])
def class_inside_dataclass(n):
    @dataclasses.dataclass(order=True)
    class Item:
        priority: int
        name: str = "x"
        tags: list = dataclasses.field(default_factory=list)

    a = Item(n, "a")
    b = Item(n + 1)
    b.tags.append("t")
    return dataclasses.asdict(a), dataclasses.astuple(b), a < b, repr(a), a == Item(n, "a")


@case([0, 1, 5])
def class_inside_enum(n):
    class Level(enum.IntEnum):
        LOW = 1
        HIGH = 10

    return Level.LOW + n, Level(10).name, [l.name for l in Level], Level.HIGH > Level.LOW


@case([0, 1, 5])
def class_inside_metaclass_and_init_subclass(n):
    registry = []

    class Meta(type):
        def __new__(mcls, name, bases, ns, **kw):
            ns["made_by_meta"] = True
            return super().__new__(mcls, name, bases, ns, **kw)

    class Plugin(metaclass=Meta):
        def __init_subclass__(cls, key=None, **kw):
            super().__init_subclass__(**kw)
            registry.append((cls.__name__, key))

    class A(Plugin, key="a"):
        pass

    class B(Plugin, key=n):
        pass

    return registry, A.made_by_meta, type(B).__name__


@case([0, 1, 5])
def class_inside_getattr_and_descriptors(n):
    class Typed:
        def __set_name__(self, owner, name):
            self.name = "_" + name

        def __get__(self, obj, objtype=None):
            return getattr(obj, self.name, None) if obj is not None else self

        def __set__(self, obj, value):
            if not isinstance(value, int):
                raise TypeError(f"{self.name[1:]} must be int")
            setattr(obj, self.name, value)

    class Rec:
        size = Typed()

        def __getattr__(self, name):
            return f"<missing {name}>"

    r = Rec()
    r.size = n
    try:
        r.size = "big"
    except TypeError as e:
        err = str(e)
    return r.size, r.whatever, err


@case([0, 1, 5])
def class_inside_many_instances(n):
    class Node:
        __slots__ = ("val", "next")

        def __init__(self, val, nxt):
            self.val = val
            self.next = nxt

    head = None
    for i in range(1000 + n):
        head = Node(i, head)
    total, count = 0, 0
    while head:
        total += head.val
        count += 1
        head = head.next
    return total, count


@case([0, 1, 5])
def class_inside_abc(n):
    class Shape(abc.ABC):
        @abc.abstractmethod
        def area(self):
            ...

    class Square(Shape):
        def __init__(self, s):
            self.s = s

        def area(self):
            return self.s * self.s

    try:
        Shape()
    except TypeError:
        err = "TypeError"
    return Square(n).area(), err, isinstance(Square(1), Shape)


Conformance = conformance_tests(__name__)
