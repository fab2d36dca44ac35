// fail_operator_new.h — make the global operator new throw on demand (px_oom_test only).
//
// fail_operator_new.cpp replaces the global operator new/delete of the executable it is linked
// into. The sanitizer runtimes define their own, so only plain builds link it.
#pragma once

namespace px::test {

// While a FailOperatorNew lives, every operator new on the constructing thread throws
// std::bad_alloc.
class FailOperatorNew {
public:
    FailOperatorNew();
    ~FailOperatorNew();
    FailOperatorNew(const FailOperatorNew&) = delete;
    FailOperatorNew& operator=(const FailOperatorNew&) = delete;
};

} // namespace px::test
