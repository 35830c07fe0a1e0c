// language_cld2.cc - the extern "C" shim over libcld2 (C++ API) for language_detect.c,
// which holds the policy (script shortcuts, low-confidence fallback). Named apart
// from language_detect.c because both would build to language_detect.o.
#include <cstdio>
#include <cstring>
#include <cld2/public/compact_lang_det.h>
#include <cld2/public/encodings.h>

namespace CLD2
{
const char *LanguageCode(Language lang);
}

extern "C" int lang_cld2_detect(const char *text, int len, char code[8], int *percent,
                                int *reliable)
{
    CLD2::CLDHints hints = {nullptr, "", CLD2::UNKNOWN_ENCODING, CLD2::UNKNOWN_LANGUAGE};
    CLD2::Language top3[3];
    int pct3[3], text_bytes, valid_prefix;
    double norm3[3];
    bool is_reliable = false;
    CLD2::Language l =
        CLD2::ExtDetectLanguageSummaryCheckUTF8(text, len, true, &hints, 0, top3, pct3, norm3,
                                                nullptr, &text_bytes, &is_reliable, &valid_prefix);
    std::snprintf(code, 8, "%s", CLD2::LanguageCode(l));
    *percent = pct3[0];
    *reliable = is_reliable;
    return l == CLD2::UNKNOWN_LANGUAGE ? -1 : 0;
}
