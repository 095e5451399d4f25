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
  assert.deepEqual(r.json, { words: 3, lines: 2, longest: 'three' });
  assert.equal(r.trailers['x-request-id'], 'r-1');
  assert.deepEqual(r.logs.map((l) => l.text), ['wc counted 3 words in 2 lines']);
});

test('top lists the most frequent words as repeated nested messages', async (t) => {
  const c = await loadComponent({ image });
  t.after(() => c.close());
  const r = await c.call('Count', { text: 'b a b c a b\n', top: 2 });
  assert.equal(r.code, 'OK', r.message);
  assert.deepEqual(r.json, { words: 6, lines: 1, longest: 'b', top: [{ word: 'b', count: 3 }, { word: 'a', count: 2 }] });
  const all = await c.call('Count', { text: 'x y', top: 100 });
  assert.deepEqual(all.json.top, [{ word: 'x', count: 1 }, { word: 'y', count: 1 }]);
});

test('an empty text or too large a top is INVALID_ARGUMENT saying what to fix; malformed bytes too', async (t) => {
  const c = await loadComponent({ image });
  t.after(() => c.close());
  const empty = await c.call('Count', {});
  assert.deepEqual([empty.code, empty.message], ['INVALID_ARGUMENT', 'text is empty: nothing to count']);
  const top = await c.call('Count', { text: 'a', top: 101 });
  assert.deepEqual([top.code, top.message], ['INVALID_ARGUMENT', 'top is 101: at most 100']);
  const junk = await c.call('Count', Uint8Array.of(0x0a, 50, 1));
  assert.deepEqual([junk.code, junk.message], ['INVALID_ARGUMENT', 'malformed text.CountRequest']);
});
