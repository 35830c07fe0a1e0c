/* convo.c - test support: the messages of an agent session between turns
 * (see convo.h). */
#include "convo.h"

void tconvo_add_user(cJSON *messages, const char *text)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", text);
    cJSON_AddItemToArray(messages, m);
}

size_t tconvo_add_tool_results(cJSON *messages, const cJSON *assistant)
{
    const cJSON *call;
    size_t n = 0;
    cJSON_ArrayForEach(call, cJSON_GetObjectItem(assistant, "tool_calls"))
    {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "tool");
        cJSON_AddStringToObject(m, "tool_call_id", cJSON_GetObjectItem(call, "id")->valuestring);
        cJSON_AddStringToObject(m, "content", "3 passed, 1 failed");
        cJSON_AddItemToArray(messages, m);
        n++;
    }
    return n;
}
