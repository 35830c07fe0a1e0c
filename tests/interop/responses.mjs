// responses.mjs - the OpenAI SDK's Responses API through tether: one
// conversation chained by previous_response_id over five turns, alternating
// a chat-completions backend (tether expands the stored chain) and an
// Anthropic backend, streamed (raw events and the SDK's stream helper) and
// not, with a function call and its output; then GET, input_items and
// DELETE of the stored responses.
import OpenAI from 'openai';
import { check, main, step, TETHER_URL } from './lib.mjs';

const client = new OpenAI({ baseURL: `${TETHER_URL}/v1`, apiKey: 'sk-interop-dummy', maxRetries: 0 });

const tools = [
  {
    type: 'function',
    name: 'run_shell',
    description: 'Run a shell command',
    parameters: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
    strict: false,
  },
];

function checkResponse(r, where) {
  check(r.object === 'response', `${where}: object ${r.object}`);
  check(typeof r.id === 'string' && r.id.startsWith('resp_'), `${where}: id ${r.id}`);
  check(r.status === 'completed', `${where}: status ${r.status}`);
  check(Array.isArray(r.output) && r.output.length >= 1, `${where}: output items`);
  check(r.usage && r.usage.input_tokens > 0 && r.usage.output_tokens > 0, `${where}: usage ${JSON.stringify(r.usage)}`);
  check(r.usage.total_tokens === r.usage.input_tokens + r.usage.output_tokens, `${where}: usage total`);
}

function checkText(r, where) {
  check(r.output.some((o) => o.type === 'message'), `${where}: a message item`);
  check(typeof r.output_text === 'string' && r.output_text.trim().length > 0, `${where}: output_text non-empty`);
}

// Raw event iteration: the whole sequence, created ... completed.
async function streamRaw(params, where) {
  const stream = await client.responses.create({ ...params, stream: true });
  const types = [];
  let text = '', completed = null, seq = -1;
  for await (const ev of stream) {
    check(typeof ev.type === 'string', `${where}: event type`);
    types.push(ev.type);
    if (typeof ev.sequence_number === 'number') {
      check(ev.sequence_number > seq, `${where}: sequence_number increases`);
      seq = ev.sequence_number;
    }
    if (ev.type === 'response.output_text.delta') text += ev.delta;
    if (ev.type === 'response.completed') completed = ev.response;
  }
  check(types[0] === 'response.created', `${where}: first event ${types[0]}`);
  check(types.at(-1) === 'response.completed', `${where}: last event ${types.at(-1)}`);
  check(types.includes('response.output_item.added') && types.includes('response.output_item.done'), `${where}: item events`);
  check(completed !== null, `${where}: completed response`);
  return { types, text, completed };
}

// The SDK's stream helper: it rebuilds the response from the events and
// throws on any event that does not fit the snapshot it holds.
async function streamHelper(params, where) {
  const stream = client.responses.stream(params);
  const types = [];
  let deltas = '';
  stream.on('event', (ev) => types.push(ev.type));
  stream.on('response.output_text.delta', (ev) => (deltas += ev.delta));
  const final = await stream.finalResponse();
  check(types[0] === 'response.created', `${where}: first event ${types[0]}`);
  check(types.at(-1) === 'response.completed', `${where}: last event ${types.at(-1)}`);
  checkResponse(final, where);
  return { final, deltas, types };
}

main('responses.mjs', async () => {
  step('turn 1: gpt, not streamed');
  const r1 = await client.responses.create({ model: 'gpt', instructions: 'Be brief.', input: 'Describe this repository.' });
  checkResponse(r1, 'turn 1');
  checkText(r1, 'turn 1');
  check(r1.previous_response_id === null || r1.previous_response_id === undefined, 'turn 1: no previous');

  step('turn 2: gpt, streamed raw');
  const t2 = await streamRaw({ model: 'gpt', previous_response_id: r1.id, input: 'And the tests?' }, 'turn 2');
  check(t2.types.includes('response.output_text.delta'), 'turn 2: text deltas');
  check(t2.text.trim().length > 0, 'turn 2: streamed text non-empty');
  const r2 = t2.completed;
  checkResponse(r2, 'turn 2');
  check(r2.previous_response_id === r1.id, 'turn 2: previous_response_id');
  check(r2.instructions === 'Be brief.', `turn 2: instructions inherited (${r2.instructions})`);
  const msg2 = r2.output.find((o) => o.type === 'message');
  check(msg2 && msg2.content[0].type === 'output_text' && msg2.content[0].text === t2.text, 'turn 2: completed text equals the deltas');

  step('turn 3: claude, stream helper, function call');
  const t3 = await streamHelper(
    { model: 'claude', previous_response_id: r2.id, input: 'please use the tool to run the tests', tools },
    'turn 3',
  );
  const call = t3.final.output.find((o) => o.type === 'function_call');
  check(call, 'turn 3: a function_call item');
  check(call.name === 'run_shell' && typeof call.call_id === 'string' && call.call_id.length > 0, 'turn 3: call fields');
  check(typeof JSON.parse(call.arguments) === 'object', 'turn 3: arguments are JSON');
  check(t3.types.includes('response.function_call_arguments.delta') || t3.types.includes('response.function_call_arguments.done'),
    'turn 3: arguments events');
  check(t3.final.previous_response_id === r2.id, 'turn 3: previous_response_id');

  step('turn 4: gpt, not streamed, function_call_output');
  const r4 = await client.responses.create({
    model: 'gpt',
    previous_response_id: t3.final.id,
    input: [{ type: 'function_call_output', call_id: call.call_id, output: 'all 12 tests passed' }],
    tools,
  });
  checkResponse(r4, 'turn 4');
  checkText(r4, 'turn 4');

  step('turn 5: claude, stream helper, text');
  const t5 = await streamHelper({ model: 'claude', previous_response_id: r4.id, input: 'Summarise in one line.' }, 'turn 5');
  checkText(t5.final, 'turn 5');
  check(t5.final.output_text === t5.deltas, 'turn 5: output_text equals the deltas');

  step('turn 6: gpt, streamed raw, after the Anthropic turn');
  const t6 = await streamRaw({ model: 'gpt', previous_response_id: t5.final.id, input: 'Thanks.' }, 'turn 6');
  check(t6.text.trim().length > 0, 'turn 6: text');

  step('GET /v1/responses/{id}, input_items, DELETE');
  const got = await client.responses.retrieve(t5.final.id);
  checkResponse(got, 'retrieve');
  check(got.id === t5.final.id, 'retrieve: same id');
  check(got.output_text === t5.final.output_text, 'retrieve: same output text');
  const got4 = await client.responses.retrieve(r4.id);
  check(got4.previous_response_id === t3.final.id, 'retrieve: chain kept');
  const items = [];
  for await (const it of client.responses.inputItems.list(r4.id)) items.push(it);
  check(items.length >= 1 && items.some((i) => i.type === 'function_call_output'), `input_items: ${JSON.stringify(items.map((i) => i.type))}`);
  const del = await client.responses.delete(t6.completed.id);
  check(del === undefined || del === null || typeof del === 'object', 'delete resolved');
  let gone = false;
  try {
    await client.responses.retrieve(t6.completed.id);
  } catch (e) {
    gone = e instanceof OpenAI.NotFoundError;
  }
  check(gone, 'retrieve after delete: 404');
});
