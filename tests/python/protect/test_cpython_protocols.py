"""CPython's own mapping, list and set tests (Lib/test/mapping_tests.py, list_tests.py,
test_set.py's TestSet) run with parallel.dict, parallel.list and the protected set on the
main thread: the protected types behave as dict, list and set do, except where the design
differs on purpose (each skip says why).
"""
import unittest

from pxtest import parallel
from test import list_tests, mapping_tests, test_set

NOT_SUBCLASSABLE = "parallel.dict and parallel.list cannot be subclassed (protect() switches " \
                   "exact types only)"
SNAPSHOT_ITERATION = "iteration works on a snapshot taken when it starts (no lock is held " \
                     "while a loop runs), so it does not see later appends"
NO_INSTANCE_DICT = "a protected set has no instance __dict__ (the test sets attributes only on " \
                   "set subclasses)"
COPY_IS_PLAIN = "copy() returns a plain snapshot, as dict.copy() of a dict subclass does"


class ProtectedDictMappingTest(mapping_tests.TestMappingProtocol):
    type2test = parallel.dict

    @unittest.skip(NOT_SUBCLASSABLE)
    def test_fromkeys(self):
        pass

    @unittest.skip(COPY_IS_PLAIN)
    def test_copy(self):
        pass


class ProtectedDictBasicTest(mapping_tests.BasicTestMappingProtocol):
    type2test = parallel.dict


class ProtectedListTest(list_tests.CommonTest):
    type2test = parallel.list

    @unittest.skip(NOT_SUBCLASSABLE)
    def test_addmul(self):
        pass

    @unittest.skip(NOT_SUBCLASSABLE)
    def test_free_after_iterating(self):
        pass

    @unittest.skip(NOT_SUBCLASSABLE)
    def test_getitemoverwriteiter(self):
        pass

    @unittest.skip(SNAPSHOT_ITERATION)
    def test_exhausted_iterator(self):
        pass


class ProtectedSetTest(test_set.TestSet):
    thetype = type(parallel.protect(set()))  # parallel.set, made by protect()
    basetype = set

    @unittest.skip(NOT_SUBCLASSABLE)
    def test_free_after_iterating(self):
        pass

    @unittest.skip(NOT_SUBCLASSABLE)
    def test_subclass_with_custom_hash(self):
        pass

    @unittest.skip(NO_INSTANCE_DICT)
    def test_pickling(self):
        pass


if __name__ == "__main__":
    unittest.main()
