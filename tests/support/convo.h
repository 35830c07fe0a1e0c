/* convo.h - test support: grow the OpenAI chat "messages" array of an
 * agent session the way a client does between turns (a user message, the
 * results of the tool calls the last assistant message made).
 *
 * Typical use:
 *   cJSON *messages = cJSON_CreateArray();
 *   tconvo_add_user(messages, "run the tests");
 *   ... POST, keep the reply's choices[0].message as last ...
 *   size_t n = tconvo_add_tool_results(messages, last);
 */
#ifndef TETHER_TEST_CONVO_H
#define TETHER_TEST_CONVO_H
#include <cjson/cJSON.h>
#include <stddef.h>

/* Append {"role":"user","content":text}. */
void tconvo_add_user(cJSON *messages, const char *text);
/* Append one {"role":"tool","tool_call_id":ID,"content":"3 passed, 1
 * failed"} per entry of assistant's "tool_calls"; returns how many. */
size_t tconvo_add_tool_results(cJSON *messages, const cJSON *assistant);
#endif
