// guards.cpp — thread registration, ownership names and PX_DEALLOC lists.
#include <atomic>
#include <new>

#include "px/guards.h"

extern "C" {
__thread PxContext* PxCtx_current __attribute__((tls_model("initial-exec"))) = nullptr;
__thread bool PxCtx_main_thread __attribute__((tls_model("initial-exec"))) = false;
}

namespace px {

namespace {
std::atomic<bool> g_main_registered{false};
} // namespace

bool register_main_thread() noexcept {
    if (PxCtx_main_thread)
        return true;
    bool expected = false;
    if (!g_main_registered.compare_exchange_strong(expected, true, std::memory_order_acq_rel))
        return false;
    PxCtx_main_thread = true;
    return true;
}

void unregister_main_thread() noexcept {
    if (!PxCtx_main_thread)
        return;
    PxCtx_main_thread = false;
    g_main_registered.store(false, std::memory_order_release);
}

const char* describe(Owner o) noexcept {
    switch (o) {
    case Owner::main:
        return "main";
    case Owner::current_context:
        return "current context";
    case Owner::session:
        return "session";
    case Owner::other_context:
        return "another context";
    }
    return "unknown";
}

// A record lives in the tracked heap itself, allocated when the object is tracked, so a
// rewind releases it with everything else from the same frame.
struct DeallocList::Record {
    DeallocList* list;
    const void* key; // what untrack() names
    void* object;    // what fn() gets
    DeallocFn fn;
    Cleanup* cleanup;
    Record* older; // the order run_all() follows
    Record* newer;
};

DeallocList::~DeallocList() {
    for (auto& [object, record] : index_) {
        heap_.cancel_cleanup(record->cleanup);
        heap_.free(record);
    }
}

void DeallocList::unlink(Record* record) noexcept {
    if (record->newer != nullptr)
        record->newer->older = record->older;
    else
        newest_ = record->older;
    if (record->older != nullptr)
        record->older->newer = record->newer;
}

TrackStatus DeallocList::track(void* object, DeallocFn fn, const void* key) noexcept {
    if (key == nullptr)
        key = object;
    if (index_.count(key))
        return TrackStatus::already_tracked;
    auto* record = static_cast<Record*>(heap_.alloc(sizeof(Record)));
    if (record == nullptr)
        return TrackStatus::out_of_memory;
    Cleanup* cleanup = heap_.add_cleanup(&DeallocList::run, record);
    if (cleanup == nullptr) {
        heap_.free(record);
        return TrackStatus::out_of_memory;
    }
    *record = Record{this, key, object, fn, cleanup, newest_, nullptr};
    try {
        index_.emplace(key, record);
    } catch (const std::bad_alloc&) {
        heap_.cancel_cleanup(cleanup);
        heap_.free(record);
        return TrackStatus::out_of_memory;
    }
    if (newest_ != nullptr)
        newest_->newer = record;
    newest_ = record;
    return TrackStatus::ok;
}

bool DeallocList::untrack(const void* key) noexcept {
    auto it = index_.find(key);
    if (it == index_.end())
        return false;
    Record* record = it->second;
    index_.erase(it);
    unlink(record);
    heap_.cancel_cleanup(record->cleanup);
    heap_.free(record);
    return true;
}

bool DeallocList::is_tracked(const void* key) const noexcept { return index_.count(key) != 0; }

std::size_t DeallocList::run_all() noexcept {
    std::size_t ran = 0;
    while (Record* record = newest_) {
        // Forget first, so a dealloc that untracks itself finds nothing.
        index_.erase(record->key);
        unlink(record);
        heap_.cancel_cleanup(record->cleanup);
        void* object = record->object;
        DeallocFn fn = record->fn;
        heap_.free(record);
        fn(object);
        ++ran;
    }
    return ran;
}

// Called by the heap's rewind. Forget first, so a dealloc that untracks itself finds
// nothing and the callback can run only once.
void DeallocList::run(void* arg) noexcept {
    auto* record = static_cast<Record*>(arg);
    record->list->index_.erase(record->key);
    record->list->unlink(record);
    record->fn(record->object);
}

} // namespace px
