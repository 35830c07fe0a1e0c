// anthropic.mjs - the Anthropic SDK's Messages API through tether: a
// streamed agent conversation with tool use (tool_use, then the
// tool_result turn) through the SDK's MessageStream helpers and raw event
// iteration, plus the non-streaming loop and count_tokens; against a model
// on a native Anthropic backend and one on an OpenAI-format backend
// (anthropic->openai translation).
import Anthropic from '@anthropic-ai/sdk';
import { check, main, step, TETHER_URL } from './lib.mjs';

const client = new Anthropic({ baseURL: TETHER_URL, apiKey: 'sk-ant-interop-dummy', maxRetries: 0 });

const tools = [
  {
    name: 'run_shell',
    description: 'Run a shell command',
    input_schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
  },
];
const system = [{ type: 'text', text: 'You are a coding agent.' }];

function firstTurn(model) {
  return [{ role: 'user', content: `please use the tool to list the files (${model})` }];
}

function resultTurn(model, assistantContent, toolUse) {
  return [
    ...firstTurn(model),
    { role: 'assistant', content: assistantContent },
    {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: toolUse.id, content: 'README.md src tests' },
        { type: 'text', text: 'What next?' },
      ],
    },
  ];
}

function checkMessage(m, where) {
  check(m.type === 'message', `${where}: type ${m.type}`);
  check(m.role === 'assistant', `${where}: role ${m.role}`);
  check(typeof m.id === 'string' && m.id.length > 0, `${where}: id`);
  check(typeof m.model === 'string' && m.model.length > 0, `${where}: model`);
  check(Array.isArray(m.content) && m.content.length >= 1, `${where}: content blocks`);
  // input_tokens excludes cache reads, so a fully cached prompt has 0
  const u = m.usage;
  check(u && Number.isInteger(u.input_tokens) && u.output_tokens > 0, `${where}: usage ${JSON.stringify(u)}`);
  check(u.input_tokens + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0) > 0, `${where}: prompt tokens`);
}

function toolUseOf(m, where) {
  check(m.stop_reason === 'tool_use', `${where}: stop_reason ${m.stop_reason}`);
  const tu = m.content.filter((b) => b.type === 'tool_use');
  check(tu.length === 1, `${where}: one tool_use block`);
  check(tu[0].name === 'run_shell', `${where}: tool name ${tu[0].name}`);
  check(typeof tu[0].id === 'string' && /^[A-Za-z0-9_-]+$/.test(tu[0].id), `${where}: tool_use id ${tu[0].id}`);
  check(typeof tu[0].input === 'object' && tu[0].input !== null, `${where}: input is an object`);
  return tu[0];
}

function textOf(m) {
  return m.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
}

// The SDK's MessageStream: it rebuilds the message from the events and
// throws on any event that does not fit (unknown block index, bad JSON).
async function streamHelper(params, where) {
  const stream = client.messages.stream(params);
  const events = [];
  let text = '', json = '', blocks = 0, connected = false;
  stream.on('connect', () => (connected = true));
  stream.on('streamEvent', (ev) => events.push(ev.type));
  stream.on('text', (d) => (text += d));
  stream.on('inputJson', (d) => (json += d));
  stream.on('contentBlock', () => blocks++);
  const final = await stream.finalMessage();
  const finalText = await stream.finalText().catch(() => null);
  check(connected, `${where}: connect event`);
  check(events[0] === 'message_start', `${where}: first event ${events[0]}`);
  check(events.at(-1) === 'message_stop', `${where}: last event ${events.at(-1)}`);
  check(events.includes('message_delta'), `${where}: message_delta`);
  check(events.filter((e) => e === 'content_block_start').length === final.content.length, `${where}: one start per block`);
  check(events.filter((e) => e === 'content_block_stop').length === final.content.length, `${where}: one stop per block`);
  check(blocks === final.content.length, `${where}: contentBlock events`);
  checkMessage(final, where);
  check(text === textOf(final), `${where}: text deltas equal the final text`);
  if (finalText !== null) check(finalText === final.content.filter((b) => b.type === 'text').at(-1)?.text, `${where}: finalText`);
  return { final, text, json, events };
}

// Raw event iteration with stream: true.
async function streamRaw(params, where) {
  const stream = await client.messages.create({ ...params, stream: true });
  const types = [];
  let text = '', stop = null, usage = null;
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === 'message_start') usage = { ...ev.message.usage };
    if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
    if (ev.type === 'message_delta') {
      stop = ev.delta.stop_reason;
      check(ev.usage && ev.usage.output_tokens > 0, `${where}: message_delta usage`);
      // a translated stream learns the prompt size only at the end
      for (const k of ['input_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'])
        if (ev.usage[k] != null) usage[k] = ev.usage[k];
    }
  }
  check(types[0] === 'message_start' && types.at(-1) === 'message_stop', `${where}: event order ${types.join(',')}`);
  check(usage && usage.input_tokens + (usage.cache_read_input_tokens ?? 0) > 0, `${where}: prompt usage ${JSON.stringify(usage)}`);
  return { text, stop, types };
}

async function loop(model, proto) {
  const base = { model, max_tokens: 512, system, tools };

  step(`${model}: streamed tool_use (MessageStream)`);
  const s1 = await streamHelper({ ...base, messages: firstTurn(model) }, `${model} turn 1`);
  const tu = toolUseOf(s1.final, `${model} turn 1`);
  check(s1.json.length > 0 && JSON.stringify(JSON.parse(s1.json)) === JSON.stringify(tu.input), `${model}: inputJson deltas equal the input`);

  step(`${model}: streamed tool_result turn (MessageStream)`);
  const s2 = await streamHelper({ ...base, messages: resultTurn(model, s1.final.content, tu) }, `${model} turn 2`);
  check(s2.final.stop_reason === 'end_turn', `${model} turn 2: stop_reason ${s2.final.stop_reason}`);
  check(s2.text.trim().length > 0, `${model} turn 2: text`);
  check(!s2.final.content.some((b) => b.type === 'tool_use'), `${model} turn 2: no tool_use`);

  step(`${model}: the same turn, raw events`);
  const r2 = await streamRaw({ ...base, messages: resultTurn(model, s1.final.content, tu) }, `${model} raw`);
  check(r2.stop === 'end_turn', `${model} raw: stop_reason ${r2.stop}`);
  check(r2.text === s2.text, `${model} raw: same text as the helper`);

  step(`${model}: non-streaming loop`);
  const { data: n1, response } = await client.messages.create({ ...base, messages: firstTurn(model) }).withResponse();
  check(response.headers.get('x-tether-protocol') === proto, `${model}: x-tether-protocol ${response.headers.get('x-tether-protocol')}`);
  checkMessage(n1, `${model} non-stream 1`);
  const ntu = toolUseOf(n1, `${model} non-stream 1`);
  check(ntu.id === tu.id, `${model}: deterministic tool_use id`);
  const n2 = await client.messages.create({ ...base, messages: resultTurn(model, n1.content, ntu) });
  checkMessage(n2, `${model} non-stream 2`);
  check(n2.stop_reason === 'end_turn', `${model} non-stream 2: stop_reason ${n2.stop_reason}`);
  check(textOf(n2) === s2.text, `${model} non-stream 2: same text as the stream`);

  step(`${model}: count_tokens`);
  const ct = await client.messages.countTokens({ model, system, tools, messages: resultTurn(model, n1.content, ntu) });
  check(Number.isInteger(ct.input_tokens) && ct.input_tokens > 0, `${model}: count_tokens ${JSON.stringify(ct)}`);
}

main('anthropic.mjs', async () => {
  await loop('claude', 'anthropic->anthropic'); // native Anthropic backend
  await loop('gpt', 'anthropic->openai'); // translated to an OpenAI-format backend
});
