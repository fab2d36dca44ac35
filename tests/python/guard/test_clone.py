"""CloneError (a TypeError) when a callback's result cannot cross to the main heap, naming the
path of the offending value; and what cloning must do with cycles and shared references."""
import socket
import sqlite3
import unittest

from pxtest import parallel


class MainThing:
    pass


MAIN_SOCKET = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
MAIN_DB = sqlite3.connect(":memory:")


def square(x):
    return x * x


def return_lambda(_):
    return lambda: 1


def return_nested_main_socket(_):
    return [1, 2, {"conn": MAIN_SOCKET}]


def return_nested_main_connection(_):
    return [1, 2, {"conn": MAIN_DB}]


def return_item_nested(item):
    """The non-clonable value is the (main-owned) item itself, put inside a fresh result."""
    return (0, [None, {"value": item}])


def return_plain_object(_):
    return {"ok": [1, 2], "bad": object()}


def return_local_class_instance(_):
    class Local:
        pass

    return ["fine", Local()]


def return_main_class_instance(_):
    return (1, (2, MainThing()))


def return_generator(_):
    return [(x for x in range(3))]


def return_function(_):
    return {"f": square}


def return_module(_):
    return [socket]


def return_only_some_items_bad(item):
    return item if item != 3 else {"deep": [[lambda: None]]}


def return_self_cycle(_):
    lst = [1, 2]
    lst.append(lst)
    return lst


def return_dict_cycle(_):
    d = {"name": "root"}
    d["self"] = d
    return d


def return_shared_reference(_):
    shared = [1, 2, 3]
    return [shared, shared, {"again": shared}]


class CloneErrors(unittest.TestCase):
    def assert_clone_error(self, func, items, path, type_name):
        try:
            result = parallel.map(func, items, workers=2)
        except parallel.CloneError as e:
            error = e
        except Exception as e:
            self.fail(f"expected parallel.CloneError, got {type(e).__qualname__}: {e}")
        else:
            self.fail(f"a non-clonable result crossed to the main heap: {result!r:.200}")
        self.assertIsInstance(error, TypeError)
        message = str(error)
        self.assertIn(path, message, f"the message does not name the path {path!r}")
        self.assertIn(type_name, message, f"the message does not name the type {type_name!r}")
        self.assertIn("clon", message.lower(), "the message does not say the value is not clonable")
        self.assertEqual(parallel.map(square, range(10), workers=2), [x * x for x in range(10)])

    def test_lambda_at_top_level(self):
        self.assert_clone_error(return_lambda, [1], "result", "function")

    def test_main_socket_in_nested_dict(self):
        self.assert_clone_error(return_nested_main_socket, [1], "result[2]['conn']", "socket")

    def test_main_sqlite_connection_in_nested_dict(self):
        """The example of API.md: `result[2]['conn']: sqlite3.Connection is not clonable`."""
        self.assert_clone_error(return_nested_main_connection, [1], "result[2]['conn']", "Connection")

    def test_main_item_put_into_result(self):
        self.assert_clone_error(return_item_nested, [MAIN_DB], "result[1][1]['value']", "Connection")

    def test_plain_object(self):
        self.assert_clone_error(return_plain_object, [1], "result['bad']", "object")

    def test_instance_of_class_defined_in_callback(self):
        self.assert_clone_error(return_local_class_instance, [1], "result[1]", "Local")

    def test_instance_of_main_class(self):
        self.assert_clone_error(return_main_class_instance, [1], "result[1][1]", "MainThing")

    def test_generator(self):
        self.assert_clone_error(return_generator, [1], "result[0]", "generator")

    def test_function(self):
        self.assert_clone_error(return_function, [1], "result['f']", "function")

    def test_module(self):
        self.assert_clone_error(return_module, [1], "result[0]", "module")

    def test_only_one_item_of_many_bad(self):
        self.assert_clone_error(return_only_some_items_bad, list(range(8)), "result['deep'][0][0]", "function")

    def test_clone_error_is_a_type_error(self):
        self.assertTrue(issubclass(parallel.CloneError, TypeError))

    def test_cycles_preserved_or_refused(self):
        """API.md: cycles are preserved or refused with a clear error, never a crash."""
        for func, check in ((return_self_cycle, lambda r: r[2] is r and r[:2] == [1, 2]),
                            (return_dict_cycle, lambda r: r["self"] is r and r["name"] == "root")):
            with self.subTest(func=func.__name__):
                try:
                    results = parallel.map(func, [1, 2], workers=2)
                except parallel.CloneError as e:
                    self.assertIn("result", str(e))
                else:
                    self.assertEqual(len(results), 2)
                    for r in results:
                        self.assertTrue(check(r), f"the cycle was not preserved: {r!r:.200}")
                self.assertEqual(parallel.map(square, [4]), [16])

    def test_shared_references_preserved_or_equal(self):
        """A value reached twice comes back equal at both places (shared, or refused clearly)."""
        try:
            results = parallel.map(return_shared_reference, [1, 2], workers=2)
        except parallel.CloneError as e:
            self.assertIn("result", str(e))
            return
        for r in results:
            self.assertEqual(r, [[1, 2, 3], [1, 2, 3], {"again": [1, 2, 3]}])
            if r[0] is not r[1]:
                self.assertIsNot(r[0], r[2]["again"])  # all copies, or all one object
            else:
                self.assertIs(r[0], r[2]["again"])


def tearDownModule():
    MAIN_SOCKET.close()
    MAIN_DB.close()
