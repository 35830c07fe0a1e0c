// chat.mjs - the OpenAI SDK's chat completions through tether: a streamed
// agent loop with tools (tool call from the mock, then the tool result
// turn) parsed chunk by chunk and through the SDK's stream helper, and the
// same loop non-streaming; on the native OpenAI-format backend and on the
// Anthropic backend (openai->anthropic translation).
import OpenAI from 'openai';
import { assert, check, main, step, TETHER_URL } from './lib.mjs';

const client = new OpenAI({ baseURL: `${TETHER_URL}/v1`, apiKey: 'sk-interop-dummy', maxRetries: 0 });

const tools = [
  {
    type: 'function',
    function: {
      name: 'run_shell',
      description: 'Run a shell command',
      parameters: {
        type: 'object',
        properties: { command: { type: 'string' }, timeout: { type: 'number' } },
        required: ['command'],
      },
    },
  },
];

function firstTurn(model) {
  return [
    { role: 'system', content: 'You are a coding agent.' },
    { role: 'user', content: `please use the tool to list the files (${model})` },
  ];
}

function checkToolCall(msg, where) {
  check(msg.role === 'assistant', `${where}: role ${msg.role}`);
  check(Array.isArray(msg.tool_calls) && msg.tool_calls.length === 1, `${where}: one tool call`);
  const tc = msg.tool_calls[0];
  check(typeof tc.id === 'string' && tc.id.length > 0, `${where}: tool call id`);
  check(tc.type === 'function', `${where}: tool call type`);
  check(tc.function.name === 'run_shell', `${where}: tool name ${tc.function.name}`);
  const args = JSON.parse(tc.function.arguments);
  check(typeof args === 'object' && args !== null, `${where}: arguments are a JSON object`);
  return tc;
}

function toolResultTurn(model, tc) {
  return [
    ...firstTurn(model),
    { role: 'assistant', content: null, tool_calls: [tc] },
    { role: 'tool', tool_call_id: tc.id, content: 'README.md src tests' },
  ];
}

// Raw stream iteration: every chunk parsed, assembled by hand.
async function streamRaw(model, messages) {
  const stream = await client.chat.completions.create({
    model,
    messages,
    tools,
    stream: true,
    stream_options: { include_usage: true },
  });
  let n = 0, content = '', finish = null, usage = null, id = null, role = null;
  const calls = [];
  for await (const chunk of stream) {
    n++;
    check(chunk.object === 'chat.completion.chunk', `chunk object ${chunk.object}`);
    check(typeof chunk.id === 'string' && chunk.id.length > 0, 'chunk id');
    if (id === null) id = chunk.id;
    check(chunk.id === id, 'same id on every chunk');
    check(Array.isArray(chunk.choices), 'chunk choices array');
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      check(c.index === 0, 'choice index 0');
      if (c.delta.role) role = c.delta.role;
      if (c.delta.content) content += c.delta.content;
      for (const t of c.delta.tool_calls ?? []) {
        check(Number.isInteger(t.index), 'tool call delta index');
        const cur = (calls[t.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
        if (t.id) cur.id = t.id;
        if (t.function?.name) cur.function.name += t.function.name;
        if (t.function?.arguments) cur.function.arguments += t.function.arguments;
      }
      if (c.finish_reason) {
        check(finish === null, 'one finish_reason');
        finish = c.finish_reason;
      }
    }
  }
  check(n >= 3, `at least 3 chunks, got ${n}`);
  check(role === 'assistant', 'assistant role delta');
  check(usage && usage.prompt_tokens > 0 && usage.completion_tokens > 0, `usage chunk ${JSON.stringify(usage)}`);
  check(usage.total_tokens === usage.prompt_tokens + usage.completion_tokens, 'usage total');
  return { content, finish, calls, role };
}

// The SDK's stream helper: accumulates deltas itself and checks them.
async function streamHelper(model, messages) {
  const runner = client.chat.completions.stream({ model, messages, tools, stream_options: { include_usage: true } });
  let chunks = 0, deltas = '';
  runner.on('chunk', () => chunks++);
  runner.on('content', (d) => (deltas += d));
  const final = await runner.finalChatCompletion();
  const msg = await runner.finalMessage();
  check(chunks >= 3, 'helper saw chunks');
  check(final.object === 'chat.completion', `final object ${final.object}`);
  check(final.choices.length === 1, 'one choice');
  check(msg.content === null || msg.content === deltas, 'finalMessage content equals the deltas');
  return { final, msg };
}

async function loop(model) {
  step(`${model}: streamed tool call (raw chunks)`);
  const t1 = await streamRaw(model, firstTurn(model));
  check(t1.finish === 'tool_calls', `finish_reason ${t1.finish}`);
  check(t1.content === '', 'no text beside the tool call');
  const tc = checkToolCall({ role: 'assistant', tool_calls: t1.calls }, `${model} stream`);

  step(`${model}: streamed tool result turn (raw chunks)`);
  const t2 = await streamRaw(model, toolResultTurn(model, tc));
  check(t2.finish === 'stop', `finish_reason ${t2.finish}`);
  check(t2.content.trim().length > 0, 'text after the tool result');
  check(t2.calls.length === 0, 'no tool call after the result');

  step(`${model}: stream helper, tool call then result`);
  const h1 = await streamHelper(model, firstTurn(model));
  check(h1.final.choices[0].finish_reason === 'tool_calls', 'helper finish tool_calls');
  const htc = checkToolCall(h1.msg, `${model} helper`);
  check(htc.id === tc.id, 'deterministic tool call id');
  const h2 = await streamHelper(model, toolResultTurn(model, htc));
  check(h2.final.choices[0].finish_reason === 'stop', 'helper finish stop');
  check(typeof h2.msg.content === 'string' && h2.msg.content.length > 0, 'helper final text');
  check(h2.msg.content === t2.content, 'helper text equals the raw stream text');
  check(h2.final.usage && h2.final.usage.prompt_tokens > 0, 'helper usage');

  step(`${model}: non-streaming loop`);
  const n1 = await client.chat.completions.create({ model, messages: firstTurn(model), tools });
  check(n1.object === 'chat.completion', `object ${n1.object}`);
  check(n1.choices[0].finish_reason === 'tool_calls', `finish_reason ${n1.choices[0].finish_reason}`);
  const ntc = checkToolCall(n1.choices[0].message, `${model} non-stream`);
  check(n1.usage.prompt_tokens > 0, 'usage');
  const n2 = await client.chat.completions.create({ model, messages: toolResultTurn(model, ntc), tools });
  check(n2.choices[0].finish_reason === 'stop', `finish_reason ${n2.choices[0].finish_reason}`);
  check(typeof n2.choices[0].message.content === 'string' && n2.choices[0].message.content.length > 0, 'text');
  check(n2.choices[0].message.content === t2.content, 'non-stream text equals the streamed text');

  // the raw response: tether's protocol header
  const { response } = await client.chat.completions
    .create({ model, messages: [{ role: 'user', content: 'hello' }] })
    .withResponse();
  const proto = response.headers.get('x-tether-protocol');
  check(proto === null || proto.startsWith('openai->'), `x-tether-protocol ${proto}`);
}

main('chat.mjs', async () => {
  await loop('gpt'); // native OpenAI-format backend
  await loop('claude'); // openai -> anthropic translation
});
