// Every call starts from the module's pristine state, whatever ran before it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guest, watToWasm } from '../helpers/guests.js';
import { startGuest, testExecutor } from '../helpers/executor.js';

test('a guest counting calls in a hidden global, in memory and in a table sees zero on every call', async (t) => {
  const ex = testExecutor({ workers: 2 });
  t.after(() => ex.close());
  const wasm = await guest('counter');
  const a = await startGuest(ex, wasm, { imageId: 'sha256:counter' });
  const b = await startGuest(ex, wasm, { imageId: 'sha256:counter' });
  // many calls at once (batched on both workers), then a few more batches, from two containers
  for (let round = 0; round < 3; round++) {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).call({ method: 'Count', request: new Uint8Array(0), metadata: [] })),
    );
    for (const r of results) {
      assert.equal(r.status, 0, r.message);
      assert.deepEqual([...new Int32Array(r.response!.slice().buffer)], [0, 0, 1, 0]);
    }
  }
});

test('memory grown by one call is not visible to the next (the instance is replaced)', async (t) => {
  const ex = testExecutor({ workers: 1 });
  t.after(() => ex.close());
  const c = await startGuest(ex, await guest('counter'));
  for (let i = 0; i < 5; i++) {
    const r = await c.call({ method: 'Size', request: new Uint8Array(0), metadata: [] });
    assert.equal(r.status, 0, r.message);
    assert.equal(new DataView(r.response!.buffer, r.response!.byteOffset).getInt32(0, true), 1, 'memory.size before growing');
  }
});

test('two containers of one image share one compiled module', async (t) => {
  const ex = testExecutor();
  t.after(() => ex.close());
  const wasm = await guest('counter');
  const m1 = await ex.prepare('sha256:shared', wasm, 1);
  const m2 = await ex.prepare('sha256:shared', wasm, 1);
  assert.equal(m1, m2, 'prepare returns the cached module for the same image');
  const c1 = await ex.start({ containerId: 'one', module: m1, env: {}, limits: {} });
  const c2 = await ex.start({ containerId: 'two', module: m2, env: {}, limits: {} });
  assert.deepEqual([...c1.methods].sort(), ['Count', 'Size']);
  for (const c of [c1, c2]) assert.equal((await c.call({ method: 'Count', request: new Uint8Array(0), metadata: [] })).status, 0);
  ex.evict('sha256:shared');
  const m3 = await ex.prepare('sha256:shared', wasm, 1);
  assert.notEqual(m3, m1, 'after evict the image is compiled again');
});

test('every kind of memory write (each store width, bulk, SIMD, host writes) is undone before the next call', async (t) => {
  // Workers started from here on also compare every reset byte for byte with the snapshot.
  process.env.WORKD_VERIFY_RESTORE = '1';
  const ex = testExecutor({ workers: 2 });
  delete process.env.WORKD_VERIFY_RESTORE;
  t.after(() => ex.close());
  const c = await startGuest(ex, await guest('scribble'), { env: { A: 'b' } });
  for (let round = 0; round < 3; round++) {
    const rs = await Promise.all(Array.from({ length: 100 }, () => c.call({ method: 'Scribble', request: new Uint8Array(0), metadata: [] })));
    for (const r of rs) {
      assert.equal(r.status, 0, r.message);
      assert.equal(r.response![0], 1, 'memory matched its post-initialisation checksum');
    }
  }
});

test('a data or element segment dropped by one call is still there for the next', async (t) => {
  const ex = testExecutor({ workers: 1 });
  t.after(() => ex.close());
  const wasm = await watToWasm(`(module
    (import "workd" "respond" (func $respond (param i32 i32)))
    (memory (export "memory") 1)
    (table 1 funcref)
    (type $ret (func (result i32)))
    (func $seven (result i32) i32.const 7)
    (data $d "hello")
    (elem $e func $seven)
    (func (export "workd_alloc") (param i32) (result i32) i32.const 1024)
    (func (export "Use") (param i32 i32) (result i32)
      (memory.init $d (i32.const 0) (i32.const 0) (i32.const 5))
      (table.init $e (i32.const 0) (i32.const 0) (i32.const 1))
      (i32.store8 (i32.const 5) (call_indirect (type $ret) (i32.const 0)))
      (data.drop $d)
      (elem.drop $e)
      (call $respond (i32.const 0) (i32.const 6))
      (i32.const 0)))`);
  const c = await startGuest(ex, wasm);
  for (let i = 0; i < 3; i++) {
    const r = await c.call({ method: 'Use', request: new Uint8Array(0), metadata: [] });
    assert.equal(r.status, 0, `call ${i}: ${r.message}`);
    assert.deepEqual([...r.response!], [...Buffer.from('hello'), 7], `call ${i}`);
  }
});
