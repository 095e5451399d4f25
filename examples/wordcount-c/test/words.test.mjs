// The component's own tests, with no node (workd/testing; `npm run examples` builds dist/image).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadComponent } from 'workd/testing';

const image = fileURLToPath(new URL('../dist/image', import.meta.url));

test('Count counts words and lines, echoes x-request-id, and printf reaches the log with the env', async (t) => {
  const c = await loadComponent({ image, env: { WORDS_NAME: 'wc' } });
  t.after(() => c.close());
  const r = await c.call('Count', { text: 'one two\nthree' }, { metadata: { 'x-request-id': 'r-1' } });
  assert.equal(r.code, 'OK', r.message);
  assert.equal(r.json.words, 3);
  assert.equal(r.json.lines, 2);
  assert.equal(r.trailers['x-request-id'], 'r-1');
  assert.deepEqual(r.logs.map((l) => l.text), ['wc counted 3 words in 2 lines']);
});
