// The component's own tests, with no node: workd/testing runs it in-process
// (`npm run examples` builds dist/image first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadComponent } from 'workd/testing';

const image = fileURLToPath(new URL('../dist/image', import.meta.url));

test('AddFloats adds two doubles and logs the sum', async (t) => {
  const c = await loadComponent({ image });
  t.after(() => c.close());
  const r = await c.call('AddFloats', { x: 3.5, y: -1.2 });
  assert.equal(r.code, 'OK', r.message);
  assert.ok(Math.abs(r.json.sum - 2.3) < 1e-9, `sum ${r.json.sum}`);
  assert.deepEqual(r.logs.map((l) => `${l.stream}: ${l.text}`), ['stdout: AddFloats(3.5, -1.2) = 2.3']);
});

test('a malformed request is INVALID_ARGUMENT with a message', async (t) => {
  const c = await loadComponent({ image });
  t.after(() => c.close());
  const r = await c.call('AddFloats', Uint8Array.of(0x09, 0x01)); // field 1, 8 bytes promised, 1 given
  assert.equal(r.code, 'INVALID_ARGUMENT');
  assert.equal(r.message, 'malformed AddFloatsRequest');
});
