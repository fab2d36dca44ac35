// fail_operator_new.cpp — a global operator new that can be told to fail.
#include "fail_operator_new.h"

#include <cstdlib>
#include <new>

namespace {
thread_local bool t_fail = false;
} // namespace

namespace px::test {
FailOperatorNew::FailOperatorNew() { t_fail = true; }
FailOperatorNew::~FailOperatorNew() { t_fail = false; }
} // namespace px::test

void* operator new(std::size_t size) {
    if (t_fail)
        throw std::bad_alloc();
    if (void* p = std::malloc(size ? size : 1))
        return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return ::operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
