// The component's own tests, with no node (workd/testing; `npm run examples` builds dist/image).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadComponent } from 'workd/testing';

const image = fileURLToPath(new URL('../dist/image', import.meta.url));

test('Echo answers the message, sets x-echo-length, and logs who called from metadata', async (t) => {
  const c = await loadComponent({ image });
  t.after(() => c.close());
  const r = await c.call('Echo', { text: 'hi there' }, { metadata: { 'x-caller': 'ann' } });
  assert.equal(r.code, 'OK');
  assert.deepEqual(r.json, { text: 'hi there' });
  assert.equal(r.trailers['x-echo-length'], '10');
  assert.deepEqual(r.logs.map((l) => l.text), ['echo for ann']);
  const quiet = await c.call('Echo', {});
  assert.deepEqual(quiet.logs, [], 'no metadata, no log line');
});
