// The component's own tests, with no node (workd/testing; `npm run examples` builds dist/image).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadComponent } from 'workd/testing';

const image = fileURLToPath(new URL('../dist/image', import.meta.url));

test('Hello greets by name, in French with x-lang: fr, sets x-greeted and logs', async (t) => {
  const c = await loadComponent({ image });
  t.after(() => c.close());
  const en = await c.call('Hello', { name: 'Ann' });
  assert.equal(en.code, 'OK', en.message);
  assert.deepEqual(en.json, { message: 'Hello, Ann!' });
  assert.equal(en.trailers['x-greeted'], 'Ann');
  assert.deepEqual(en.logs.map((l) => l.text), ['greeted Ann']);
  const fr = await c.call('Hello', { name: 'Zoé' }, { metadata: { 'x-lang': 'fr' } });
  assert.deepEqual(fr.json, { message: 'Bonjour, Zoé!' });
  assert.equal(Buffer.from(fr.trailers['x-greeted-bin']).toString(), 'Zoé', 'a name that is not ASCII goes in a -bin trailer');
});

test('an empty name is INVALID_ARGUMENT saying what to fix', async (t) => {
  const c = await loadComponent({ image });
  t.after(() => c.close());
  const r = await c.call('Hello', {});
  assert.equal(r.code, 'INVALID_ARGUMENT');
  assert.equal(r.message, 'name is empty: say who to greet');
});
