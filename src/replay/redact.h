/* redact.h - masking before a replay record is stored (SPEC §9.9
 * "Redaction"). Credentials are always masked as "<redacted>": values of
 * Authorization / Proxy-Authorization / x-api-key / Cookie (as JSON members
 * or "Name: value" header lines), of JSON keys ending in key, token, password
 * or secret, bearer tokens, and provider key shapes the PII recognizers know
 * (sk-..., sk-ant-..., ghp_..., github_pat_..., AKIA..., AIza..., xox?-...,
 * JWTs, PEM private keys). With pii on, what the §5.4 recognizers find
 * (email, phone, card, IBAN, SSN, IP) is masked as "[TYPE]" as well.
 *
 * Pure functions, thread-safe. The writer thread calls replay_redact_record,
 * so none of this runs on the request path. */
#ifndef TETHER_REPLAY_REDACT_H
#define TETHER_REPLAY_REDACT_H
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "replay/record.h"

#define REPLAY_REDACTED "<redacted>"

/* Append text to out with credentials masked and, when pii, PII masked. */
void replay_redact_text(const char *s, size_t n, bool pii, buf_t *out);
/* True when a JSON key or header name names a secret (case-insensitive):
 * authorization, proxy-authorization, x-api-key, api-key, cookie,
 * set-cookie, or a name ending in key, token, password or secret. */
bool replay_redact_is_secret_name(const char *name, size_t n);
/* In place: bodies get credentials and (when pii) PII masked; every
 * pre-rendered *_json field gets credentials masked (a field that would no
 * longer parse becomes the string "<redacted>"). */
void replay_redact_record(replay_record_t *r, bool pii);
/* The same, without looking again at the fragments clean names (bits
 * 1 << REPLAY_FRAG_x from replay_record_validate_clean on the same,
 * unchanged record): the credential scan leaves such a fragment as it is. */
void replay_redact_record_clean(replay_record_t *r, bool pii, unsigned clean);
#endif
