/* mock_strict.h - provider-bound state of `tether mock`: the registry of the
 * ids and signatures this mock issued, and the check that a request only
 * carries state it issued (what a real provider enforces when a session
 * moves between backends).
 *
 * Checked in a request (chat completions, Responses and Anthropic shapes):
 *   unknown_previous_response_id  top-level "previous_response_id"
 *   unknown_tool_call_id          tool message "tool_call_id", assistant
 *                                 "tool_calls[].id", content parts
 *                                 tool_use.id / tool_result.tool_use_id,
 *                                 input items function_call(_output).call_id
 *   unknown_reasoning_item        "reasoning_details[]" items of type
 *                                 "reasoning.encrypted" (field "data"), any
 *                                 "encrypted_content" on a message, part or
 *                                 input item, redacted_thinking.data
 *   unknown_thinking_signature    "reasoning_details[].signature", content
 *                                 parts of type "thinking" (field "signature")
 * in the arrays "messages" and "input" (one level of content parts deep).
 *
 * Thread-safety: the registry locks its own mutex. */
#ifndef TETHER_MOCK_STRICT_H
#define TETHER_MOCK_STRICT_H
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
    MOCK_ID_RESPONSE = 0, /* chat id, Responses id */
    MOCK_ID_TOOL_CALL,
    MOCK_ID_REASONING, /* encrypted reasoning data */
    MOCK_ID_SIGNATURE, /* thinking signature */
    MOCK_ID__COUNT
} mock_id_kind_t;

typedef enum {
    MOCK_V_NONE = 0,
    MOCK_V_TOOL_CALL,
    MOCK_V_PREVIOUS_RESPONSE,
    MOCK_V_REASONING,
    MOCK_V_SIGNATURE,
    MOCK_V__COUNT
} mock_violation_t;

/* Machine-readable code of a violation ("unknown_tool_call_id", ...). */
const char *mock_violation_code(mock_violation_t v);

typedef struct mock_registry mock_registry_t;

mock_registry_t *mock_registry_new(void);
void mock_registry_free(mock_registry_t *r);
void mock_registry_add(mock_registry_t *r, mock_id_kind_t kind, const char *id);
bool mock_registry_has(mock_registry_t *r, mock_id_kind_t kind, const char *id);
void mock_registry_clear(mock_registry_t *r);
size_t mock_registry_count(mock_registry_t *r);

/* First violation in a parsed request, or MOCK_V_NONE. On a violation,
 * `detail` receives a sentence naming the offending value. */
mock_violation_t mock_strict_check(mock_registry_t *r, const cJSON *root, char *detail,
                                   size_t detail_len);
#endif
