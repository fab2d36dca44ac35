"""Exceptions raised and caught inside the callback, with tracebacks formatted there."""
import contextlib
import io
import sys
import traceback

from .harness import case, conformance_tests

NS = [0, 1, 2, 7]


class MainError(Exception):
    """A main-owned exception class; callbacks raise new instances of it."""

    def __init__(self, code, text):
        super().__init__(code, text)
        self.code = code


def raise_value_error(n):
    raise ValueError(f"bad value {n}")


def nested_raise(n):
    def level2():
        raise_value_error(n)

    def level1():
        level2()

    level1()


@case(NS)
def exc_try_except_else_finally(n):
    log = []
    try:
        log.append("try")
        if n % 2:
            raise ValueError(n)
    except ValueError as e:
        log.append(f"except {e.args[0]}")
    else:
        log.append("else")
    finally:
        log.append("finally")
    return log


@case(NS)
def exc_format_exc_text(n):
    try:
        nested_raise(n)
    except ValueError:
        return traceback.format_exc()


@case(NS)
def exc_format_exception_lines(n):
    try:
        {}["k%d" % n]
    except KeyError as e:
        return traceback.format_exception(e), traceback.format_exception_only(type(e), e)


@case(NS)
def exc_extract_tb_frames(n):
    try:
        nested_raise(n)
    except ValueError as e:
        return [(f.name, f.line) for f in traceback.extract_tb(e.__traceback__)]


@case(NS)
def exc_traceback_lineno_relative(n):
    try:
        nested_raise(n)
    except ValueError as e:
        tb = e.__traceback__
        linenos = []
        while tb is not None:
            linenos.append(tb.tb_lineno - tb.tb_frame.f_code.co_firstlineno)
            tb = tb.tb_next
        return linenos


@case(NS)
def exc_main_exception_class(n):
    try:
        raise MainError(n, "main class")
    except MainError as e:
        return e.code, e.args, str(e), repr(e), isinstance(e, Exception)


@case(NS)
def exc_class_defined_inside(n):
    class LocalError(LookupError):
        pass

    try:
        raise LocalError("local", n)
    except LookupError as e:
        return type(e).__name__, e.args, type(e).__mro__[1].__name__


@case(NS)
def exc_chaining_from(n):
    try:
        try:
            1 / (n - n)
        except ZeroDivisionError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as e:
        return str(e), type(e.__cause__).__name__, e.__suppress_context__, traceback.format_exc().count("direct cause")


@case(NS)
def exc_implicit_context(n):
    try:
        try:
            raise KeyError(n)
        except KeyError:
            raise ValueError("during handling")
    except ValueError as e:
        return type(e.__context__).__name__, e.__context__.args, "During handling" in traceback.format_exc()


@case(NS)
def exc_raise_from_none(n):
    try:
        try:
            raise KeyError(n)
        except KeyError:
            raise ValueError("clean") from None
    except ValueError as e:
        return e.__cause__, e.__suppress_context__, traceback.format_exc().count("KeyError")


@case(NS)
def exc_reraise_bare(n):
    def f():
        try:
            raise IndexError(n)
        except IndexError:
            raise

    try:
        f()
    except IndexError as e:
        return e.args, [fr.name for fr in traceback.extract_tb(e.__traceback__)]


@case(NS)
def exc_sys_exc_info(n):
    try:
        raise TypeError("t%d" % n)
    except TypeError:
        t, v, tb = sys.exc_info()
        inside = (t.__name__, str(v), tb is not None)
    return inside, sys.exc_info() == (None, None, None)


@case(NS)
def exc_add_note(n):
    try:
        e = ValueError("with notes")
        e.add_note(f"note {n}")
        e.add_note("second")
        raise e
    except ValueError as caught:
        return caught.__notes__, traceback.format_exc().splitlines()[-3:]


@case(NS)
def exc_group_except_star(n):
    caught = []
    try:
        raise ExceptionGroup("group", [ValueError(n), TypeError("t"), KeyError("k")])
    except* ValueError as eg:
        caught.append(("ValueError", [e.args for e in eg.exceptions]))
    except* (TypeError, KeyError) as eg:
        caught.append(("Type/Key", sorted(type(e).__name__ for e in eg.exceptions)))
    return caught


@case(NS)
def exc_group_split_and_format(n):
    eg = ExceptionGroup("outer", [ValueError(n), ExceptionGroup("inner", [OSError(2, "nf")])])
    match, rest = eg.split(OSError)
    try:
        raise eg
    except ExceptionGroup:
        text = traceback.format_exc()
    return repr(match), repr(rest), "inner" in text, text.count("ValueError")


@case(NS)
def exc_finally_overrides_return(n):
    def f():
        try:
            return "try"
        finally:
            if n % 2:
                return "finally"

    return f()


@case(NS)
def exc_with_statement_class_inside(n):
    log = []

    class CM:
        def __enter__(self):
            log.append("enter")
            return self

        def __exit__(self, exc_type, exc, tb):
            log.append(("exit", exc_type.__name__ if exc_type else None))
            return exc_type is KeyError

    with CM():
        log.append("body")
    with CM():
        raise KeyError(n)
    return log


@case(NS)
def exc_contextlib_suppress_and_contextmanager(n):
    @contextlib.contextmanager
    def tag(name):
        out.append("<" + name + ">")
        try:
            yield
        finally:
            out.append("</" + name + ">")

    out = []
    with contextlib.suppress(ZeroDivisionError):
        with tag("b"):
            out.append(1 // (n - n))
    return out


@case(NS)
def exc_oserror_attributes(n):
    try:
        raise FileNotFoundError(2, "No such file", f"/nonexistent/{n}")
    except OSError as e:
        return e.errno, e.strerror, e.filename, str(e), type(e).__name__


@case(NS)
def exc_assert_statement(n):
    try:
        assert n > 100, f"n too small: {n}"
    except AssertionError as e:
        return str(e)
    return "asserts disabled"


@case(NS)
def exc_stopiteration_in_generator_becomes_runtimeerror(n):
    def g():
        yield n
        raise StopIteration

    try:
        list(g())
    except RuntimeError as e:
        return str(e), type(e.__cause__).__name__


@case(NS)
def exc_builtin_error_messages(n):
    out = []
    for thunk in (lambda: [][n], lambda: None.attr, lambda: int("x%d" % n), lambda: undefined_name,  # noqa: F821
                  lambda: (1).foo(), lambda: "a" + n, lambda: len(5)):
        try:
            thunk()
        except Exception as e:
            out.append(f"{type(e).__name__}: {e}")
    return out


@case(NS)
def exc_many_raised_in_loop(n):
    caught = 0
    for i in range(2000):
        try:
            if i % 3 == 0:
                raise ValueError(i)
            {}[i]
        except (ValueError, KeyError):
            caught += 1
    return caught + n


@case(NS)
def exc_print_exception_to_string(n):
    buf = io.StringIO()
    try:
        nested_raise(n)
    except ValueError:
        traceback.print_exc(file=buf)
    return buf.getvalue()


@case(NS)
def exc_traceback_exception_object(n):
    try:
        nested_raise(n)
    except ValueError as e:
        te = traceback.TracebackException.from_exception(e)
        return list(te.format_exception_only()), len(te.stack), te.exc_type.__name__


Conformance = conformance_tests(__name__)
