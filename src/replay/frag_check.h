/* frag_check.h - the replay writer's fast checks of a record's pre-rendered
 * JSON fragments (decision trace, signals, candidates, ...), one pass each:
 *
 * replay_frag_json_ok: a strict RFC 8259 validator of ASCII JSON that
 *   answers "valid" only for text the reference check (json/scan.h's
 *   jscan_validate, else cJSON) accepts; anything it is unsure of (\u
 *   escapes, bytes >= 0x80, nesting past 64, numbers past 32 bytes, invalid
 *   text) it leaves to the reference: record.c calls the reference then.
 *
 * replay_frag_may_hold_secret: false only when the credential scan of
 *   redact.c (JSON members with a secret name, "Name: value" header lines,
 *   bearer tokens, the API-key shapes of signals/pii_recognizers.c) cannot
 *   find anything in the text, so redact.c may skip it. Every shape the scan
 *   masks needs one of these, which is what the pass looks for:
 *     - a '"' or ':' right after a name ending (any case) in key, token,
 *       password, secret, authorization or cookie (secret JSON members,
 *       header lines);
 *     - "bearer" in any case;
 *     - a key prefix: sk- / sk_ (sk-, sk-ant-, sk_live_), gh[pousr]_,
 *       github_pat_, xox, AKIA, AIza, eyJ (JWT), "-----BEGIN " (PEM);
 *     - a run of 32 or more secret-token bytes (alnum _ - + / =): the
 *       high-entropy tokens next to a key word.
 *   A new shape in the recognizers needs its trigger here
 *   (tests/unit/replay/test_frag_check.c checks one sample of each).
 *
 * Pure functions, thread-safe. */
#ifndef TETHER_REPLAY_FRAG_CHECK_H
#define TETHER_REPLAY_FRAG_CHECK_H
#include <stdbool.h>
#include <stddef.h>

/* true: s[0..n) is valid JSON (one value, optional whitespace around).
 * false: invalid or not sure; ask the reference check. */
bool replay_frag_json_ok(const char *s, size_t n);
/* false: the credential scan finds nothing in s[0..n). */
bool replay_frag_may_hold_secret(const char *s, size_t n);
/* The same answer, one byte at a time (the reference for tests). */
bool replay_frag_may_hold_secret_bytes(const char *s, size_t n);
#endif
