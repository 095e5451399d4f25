// The component's own tests, with no node (workd/testing; `npm run examples` builds dist/image).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadComponent } from 'workd/testing';

const image = fileURLToPath(new URL('../dist/image', import.meta.url));

test('Hello greets by name and each friend, in French with x-lang: fr, sets x-greeted and logs', async (t) => {
  const c = await loadComponent({ image });
  t.after(() => c.close());
  const en = await c.call('Hello', { name: 'Ann' });
  assert.equal(en.code, 'OK', en.message);
  assert.deepEqual(en.json, { message: 'Hello, Ann!', lang: 'LANG_EN' });
  assert.equal(en.trailers['x-greeted'], 'Ann');
  assert.deepEqual(en.logs.map((l) => l.text), ['greeted Ann']);
  const fr = await c.call('Hello', { name: 'Zoé', friends: ['Bob', 'Chloé'] }, { metadata: { 'x-lang': 'fr' } });
  assert.equal(fr.code, 'OK', fr.message);
  assert.deepEqual(fr.json, {
    message: 'Bonjour, Zoé!',
    greetings: [{ to: 'Bob', text: 'Bonjour, Bob!' }, { to: 'Chloé', text: 'Bonjour, Chloé!' }],
    lang: 'LANG_FR',
  });
  assert.equal(Buffer.from(fr.trailers['x-greeted-bin']).toString(), 'Zoé', 'a name that is not ASCII goes in a -bin trailer');
});

test('an empty name or friend is INVALID_ARGUMENT saying what to fix; malformed bytes too', async (t) => {
  const c = await loadComponent({ image });
  t.after(() => c.close());
  const r = await c.call('Hello', {});
  assert.deepEqual([r.code, r.message], ['INVALID_ARGUMENT', 'name is empty: say who to greet']);
  const friend = await c.call('Hello', { name: 'Ann', friends: ['Bob', ''] });
  assert.deepEqual([friend.code, friend.message], ['INVALID_ARGUMENT', 'friend 2 has no name']);
  const junk = await c.call('Hello', Uint8Array.of(0x0a, 0x02, 0xff, 0xfe));
  assert.deepEqual([junk.code, junk.message], ['INVALID_ARGUMENT', 'malformed greet.HelloRequest']);
});
