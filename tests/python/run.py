#!/usr/bin/env python3
"""Runs the pxpython Python test suites and ends with the line 'N passed, N failed, N skipped'.

    pxpython tests/python/run.py                      # conformance, guard and errors
    pxpython tests/python/run.py conformance -k json  # one suite, tests whose id contains 'json'
    pxpython tests/python/run.py -v --failfast

A test counts once: it fails if it or any of its subtests failed or raised. The exit status is 0
only when nothing failed and at least one test ran. Same as
`pxpython -m unittest discover -s tests/python -t tests/python`, with a closing count.
"""
import argparse
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SUITES = ("conformance", "guard", "errors", "server", "dealloc", "protect")


class CountingResult(unittest.TextTestResult):
    """Remembers the outcome of each test id, subtests folded into their test."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcomes = {}

    def _mark(self, test, outcome):
        key = test.id()
        if self.outcomes.get(key) != "failed":
            self.outcomes[key] = outcome

    def addSuccess(self, test):
        super().addSuccess(test)
        self._mark(test, "passed")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._mark(test, "failed")

    def addError(self, test, err):
        super().addError(test, err)
        self._mark(test, "failed")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._mark(test, "skipped")

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._mark(test, "passed")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._mark(test, "failed")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.outcomes[test.id()] = "failed"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="*", metavar="SUITE", help=f"any of {', '.join(SUITES)} (default: all)")
    parser.add_argument("-k", dest="patterns", action="append", default=[],
                        help="only tests whose id contains this substring (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--failfast", action="store_true")
    args = parser.parse_args()
    unknown = [s for s in args.suites if s not in SUITES]
    if unknown:
        parser.error(f"unknown suite {unknown[0]!r}; choose from {', '.join(SUITES)}")

    sys.path.insert(0, HERE)
    try:
        import pxtest  # noqa: F401  (fails with the how-to-run message when `parallel` is missing)
    except ImportError as e:
        print(f"error: {e}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1

    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [f"*{p}*" for p in args.patterns]
    suite = unittest.TestSuite()
    for name in args.suites or SUITES:
        suite.addTests(loader.discover(start_dir=os.path.join(HERE, name), top_level_dir=HERE))

    runner = unittest.TextTestRunner(verbosity=2 if args.verbose else 1, failfast=args.failfast,
                                     resultclass=CountingResult)
    t0 = time.monotonic()
    result = runner.run(suite)
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for outcome in result.outcomes.values():
        counts[outcome] += 1
    print(f"python suites ({', '.join(args.suites or SUITES)}) in {time.monotonic() - t0:.1f}s "
          f"with {sys.executable}")
    print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    return 0 if counts["failed"] == 0 and counts["passed"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
