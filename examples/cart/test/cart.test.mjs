// The component's own tests, with no node (workd/testing; `npm run examples` builds dist/image).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadComponent } from 'workd/testing';

const image = fileURLToPath(new URL('../dist/image', import.meta.url));

test('AddItem merges nested and repeated items and totals them; metadata reaches the log', async (t) => {
  const c = await loadComponent({ image });
  t.after(() => c.close());
  const r = await c.call(
    'AddItem',
    { items: [{ sku: 'tea', quantity: 1, price: 4.5 }, { sku: 'mug', quantity: 2, price: 8 }], item: { sku: 'tea', quantity: 2, price: 4.5 } },
    { metadata: { 'x-user': 'ann' } },
  );
  assert.equal(r.code, 'OK', r.message);
  assert.deepEqual(r.json, { items: [{ sku: 'tea', quantity: 3, price: 4.5 }, { sku: 'mug', quantity: 2, price: 8 }], count: 5, total: 29.5 });
  assert.deepEqual(r.logs.map((l) => l.text), ['ann added 2 x tea']);
  const fresh = await c.call('AddItem', { item: { sku: 'pen', quantity: 1, price: 0 } });
  assert.deepEqual(fresh.json, { items: [{ sku: 'pen', quantity: 1 }], count: 1 });
});

test('a rejected call carries its status and message; a malformed request is INVALID_ARGUMENT', async (t) => {
  const c = await loadComponent({ image });
  t.after(() => c.close());
  const none = await c.call('AddItem', {});
  assert.deepEqual([none.code, none.message], ['INVALID_ARGUMENT', 'item is missing']);
  const zero = await c.call('AddItem', { item: { sku: 'tea' } });
  assert.deepEqual([zero.code, zero.message], ['INVALID_ARGUMENT', 'item tea: quantity must be at least 1']);
  const junk = await c.call('AddItem', Uint8Array.of(0x12, 0x05, 0x0a));
  assert.deepEqual([junk.code, junk.message], ['INVALID_ARGUMENT', 'malformed shop.AddItemRequest']);
});
