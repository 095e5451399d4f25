import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore } from '../../state/store.js';
import { ownershipStore } from './ownership.js';

const A = 'ab12' + '0'.repeat(60);
const B = 'ab34' + '0'.repeat(60);
const C = 'cd56' + '0'.repeat(60);

test('downstream IDs resolve by exact ID or unique prefix, per kind, and survive reopening the state store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'workd-owned-'));
  try {
    let state = await StateStore.open(join(dir, 'state'));
    let owned = ownershipStore(state);
    await owned.add([{ id: A, kind: 'sandbox' }, { id: B, kind: 'sandbox' }]);
    await owned.add([{ id: C, kind: 'container', sandboxId: A }]);
    assert.equal(owned.resolve('ab'), 'ambiguous');
    assert.equal((owned.resolve('ab1') as { id: string }).id, A);
    assert.equal(owned.resolve('cd', 'sandbox'), undefined, 'a container ID is not a sandbox');
    assert.deepEqual(owned.resolve('cd', 'container'), { id: C, kind: 'container', sandboxId: A });
    assert.equal(owned.resolve(''), undefined);
    await state.close();

    state = await StateStore.open(join(dir, 'state'));
    owned = ownershipStore(state);
    assert.equal(owned.list().length, 3, 'recorded durably');
    // Removing a sandbox forgets its containers too.
    await owned.remove([A]);
    assert.deepEqual(owned.list().map((r) => r.id), [B]);
    await owned.remove([A, 'f'.repeat(64)]);
    assert.equal(owned.list().length, 1, 'removing what is gone changes nothing');
    await state.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
