// language_cld2.cc - the extern "C" shim over libcld2 (C++ API) for language_detect.c,
// which holds the policy (script shortcuts, low-confidence fallback). Named apart
// from language_detect.c because both would build to language_detect.o.
//
// CLD2 allocates its scratch objects with C++ new (about five per call) and takes no
// buffer from its caller. While lang_cld2_detect runs, this file's operator new hands
// out memory from a per-thread bump region instead (kept for the thread's life, freed
// at its exit), and operator delete of such a pointer does nothing: the region is
// rewound when the call returns, as everything CLD2 allocated is gone by then (it has
// no lazily built statics). Outside a detection, and for what does not fit, new and
// delete are malloc and free as usual. Off under ASan, which tracks new/delete itself.
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <pthread.h>

#include <cld2/public/compact_lang_det.h> // after <cstdio>: it uses FILE
#include <cld2/public/encodings.h>

namespace CLD2
{
const char *LanguageCode(Language lang);
}

#if defined(__SANITIZE_ADDRESS__)
#define LANG_BUMP 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LANG_BUMP 0
#endif
#endif
#ifndef LANG_BUMP
#define LANG_BUMP 1
#endif

#if LANG_BUMP
namespace
{
// 256 KiB holds one detection's objects for any text (CLD2 scans in bounded buffers).
constexpr std::size_t kRegionSize = 256 * 1024;

struct region {
    unsigned char *base;
    std::size_t used;
    bool active;
};
thread_local region tl_region;
pthread_key_t region_key;
pthread_once_t region_once = PTHREAD_ONCE_INIT;

void region_free(void *base)
{
    std::free(base);
}

void region_key_init()
{
    pthread_key_create(&region_key, region_free);
}

// The region for this thread (allocated once), or nullptr when out of memory.
unsigned char *region_base()
{
    region &r = tl_region;
    if (!r.base) {
        r.base = static_cast<unsigned char *>(std::malloc(kRegionSize));
        if (r.base) {
            pthread_once(&region_once, region_key_init);
            pthread_setspecific(region_key, r.base); // freed at thread exit
        }
    }
    return r.base;
}

void *bump(std::size_t n)
{
    region &r = tl_region;
    if (!r.active) return nullptr;
    std::size_t need = (n + 15) & ~static_cast<std::size_t>(15);
    if (need == 0) need = 16;
    if (need > kRegionSize - r.used) return nullptr;
    void *p = r.base + r.used;
    r.used += need;
    return p;
}

bool in_region(void *p)
{
    const region &r = tl_region;
    auto *c = static_cast<unsigned char *>(p);
    return r.base && c >= r.base && c < r.base + kRegionSize;
}

void *new_or_throw(std::size_t n)
{
    if (void *p = bump(n)) return p;
    void *p = std::malloc(n ? n : 1);
    if (!p) throw std::bad_alloc();
    return p;
}

void *new_or_null(std::size_t n) noexcept
{
    if (void *p = bump(n)) return p;
    return std::malloc(n ? n : 1);
}

void release(void *p) noexcept
{
    if (p && !in_region(p)) std::free(p);
}
} // namespace

void *operator new(std::size_t n)
{
    return new_or_throw(n);
}
void *operator new[](std::size_t n)
{
    return new_or_throw(n);
}
void *operator new(std::size_t n, const std::nothrow_t &) noexcept
{
    return new_or_null(n);
}
void *operator new[](std::size_t n, const std::nothrow_t &) noexcept
{
    return new_or_null(n);
}
void operator delete(void *p) noexcept
{
    release(p);
}
void operator delete[](void *p) noexcept
{
    release(p);
}
void operator delete(void *p, std::size_t) noexcept
{
    release(p);
}
void operator delete[](void *p, std::size_t) noexcept
{
    release(p);
}
void operator delete(void *p, const std::nothrow_t &) noexcept
{
    release(p);
}
void operator delete[](void *p, const std::nothrow_t &) noexcept
{
    release(p);
}
#endif

extern "C" int lang_cld2_detect(const char *text, int len, char code[8], int *percent,
                                int *reliable)
{
    CLD2::CLDHints hints = {nullptr, "", CLD2::UNKNOWN_ENCODING, CLD2::UNKNOWN_LANGUAGE};
    CLD2::Language top3[3];
    int pct3[3], text_bytes, valid_prefix;
    double norm3[3];
    bool is_reliable = false;
#if LANG_BUMP
    region &r = tl_region;
    r.active = region_base() != nullptr;
    r.used = 0;
#endif
    CLD2::Language l = CLD2::UNKNOWN_LANGUAGE;
    pct3[0] = 0;
    try {
        l = CLD2::ExtDetectLanguageSummaryCheckUTF8(text, len, true, &hints, 0, top3, pct3, norm3,
                                                    nullptr, &text_bytes, &is_reliable,
                                                    &valid_prefix);
    } catch (...) { // out of memory: undecided, as CLD2 says for no text
        l = CLD2::UNKNOWN_LANGUAGE;
        pct3[0] = 0;
        is_reliable = false;
    }
#if LANG_BUMP
    r.active = false;
    r.used = 0;
#endif
    std::snprintf(code, 8, "%s", CLD2::LanguageCode(l));
    *percent = pct3[0];
    *reliable = is_reliable;
    return l == CLD2::UNKNOWN_LANGUAGE ? -1 : 0;
}
