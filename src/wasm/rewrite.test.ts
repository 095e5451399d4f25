import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guest, watToWasm } from '../../test/helpers/guests.js';
import { inspectModule, rewriteModule, MEMORY_IMPORT, GROW_FAILED_EXPORT, WasmFormatError } from './rewrite.js';
import { WorkdError } from '../errors.js';

test('inspectModule reads imports, exports, globals, tables and the memory', async () => {
  const info = inspectModule(await guest('counter'));
  assert.deepEqual(info.imports.map((i) => `${i.module}.${i.name}:${i.kind}`), ['workd.respond:func']);
  assert.deepEqual(info.memories, [{ min: 1, max: 4, shared: false, is64: false }]);
  assert.equal(info.tableCount, 1);
  assert.deepEqual(info.globals, [{ valtype: 0x7f, mutable: true }]);
  assert.ok(info.exports.some((e) => e.name === 'Count' && e.kind === 'func'));
});

test('rewriteModule exports hidden mutable globals and tables, imports the memory, and stays valid', async () => {
  const r = rewriteModule(await guest('counter'));
  assert.deepEqual(r.mutableGlobals, [0]);
  assert.deepEqual(r.tables, [0]);
  assert.equal(r.growSites, 1);
  assert.equal(r.tableWrites, true);
  const mod = new WebAssembly.Module(r.bytes);
  assert.deepEqual(
    WebAssembly.Module.imports(mod).map((i) => `${i.module}.${i.name}:${i.kind}`),
    ['workd.respond:function', `${MEMORY_IMPORT.module}.${MEMORY_IMPORT.name}:memory`],
  );
  const names = WebAssembly.Module.exports(mod).map((e) => e.name);
  for (const n of ['memory', 'Count', 'workd_g0', 'workd_t0', GROW_FAILED_EXPORT]) assert.ok(names.includes(n), n);

  const memory = new WebAssembly.Memory({ initial: 1, maximum: 2 });
  let out = new Uint8Array();
  const inst = new WebAssembly.Instance(mod, {
    workd: { respond: (p: number, n: number) => (out = new Uint8Array(memory.buffer, p, n).slice()), workd_memory: memory },
  });
  const ex = inst.exports as Record<string, any>;
  (ex.Count as () => number)();
  (ex.Count as () => number)();
  // the hidden global counted two calls and is now visible to the host
  assert.equal((ex.workd_g0 as WebAssembly.Global).value, 2);
  assert.deepEqual([...new Int32Array(out.buffer)], [1, 1, 2, 1]);
  // memory.grow goes through the trampoline: the first succeeds (max 2), the second fails and is recorded
  const grow = ex.Size as () => number;
  grow();
  assert.equal((ex[GROW_FAILED_EXPORT] as WebAssembly.Global).value, 0);
  grow();
  assert.equal((ex[GROW_FAILED_EXPORT] as WebAssembly.Global).value, 1);
  assert.equal(memory.buffer.byteLength, 2 * 65536);
});

test('a module without tables or table writes reports none', async () => {
  const r = rewriteModule(await watToWasm('(module (memory 1) (func (export "f") (result i32) i32.const 7))'));
  assert.equal(r.tableWrites, false);
  assert.deepEqual(r.tables, []);
  assert.equal(r.growSites, 0);
  const memory = new WebAssembly.Memory({ initial: 1 });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(r.bytes), { workd: { workd_memory: memory } });
  assert.equal((inst.exports.f as () => number)(), 7);
});

test('rewriteModule refuses what it cannot reset, naming the problem', async () => {
  await assert.rejects(async () => rewriteModule(await watToWasm('(module (func))')), (e: unknown) => e instanceof WorkdError && /defines 0 memories/.test(e.message));
  await assert.rejects(
    async () => rewriteModule(await watToWasm('(module (import "env" "m" (memory 1)))')),
    (e: unknown) => e instanceof WorkdError && /imports its memory/.test(e.message),
  );
  await assert.rejects(
    async () => rewriteModule(await watToWasm('(module (memory 1) (global (mut i32) (i32.const 0)) (func (export "workd_g0")))')),
    (e: unknown) => e instanceof WorkdError && /workd_g0/.test(e.message),
  );
  assert.throws(() => inspectModule(new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0])), WasmFormatError);
  assert.throws(() => inspectModule(new TextEncoder().encode('hello world')), /bad magic/);
});

test('memory writes are tracked: the dirty range covers every store, bulk and SIMD write', async () => {
  const r = rewriteModule(await guest('scribble'));
  assert.equal(r.dirtyTracking, true);
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 2 });
  const noop = () => 0;
  const inst = new WebAssembly.Instance(new WebAssembly.Module(r.bytes), {
    workd: { respond: noop, workd_memory: memory },
    wasi_snapshot_preview1: { random_get: noop, clock_time_get: noop, environ_sizes_get: noop },
  });
  const ex = inst.exports as Record<string, any>;
  ex.workd_dirty_lo.value = -1;
  ex.workd_dirty_hi.value = 0;
  ex.Scribble(1024, 0);
  assert.equal(ex.workd_dirty_lo.value >>> 0, 0);
  assert.equal(ex.workd_dirty_hi.value >>> 0, 131072);
  // a single narrow store marks exactly its bytes
  const one = rewriteModule(await watToWasm('(module (memory 1) (func (export "f") (i64.store16 offset=10 (i32.const 100) (i64.const 1))))'));
  const m1 = new WebAssembly.Memory({ initial: 1 });
  const i1 = new WebAssembly.Instance(new WebAssembly.Module(one.bytes), { workd: { workd_memory: m1 } }).exports as Record<string, any>;
  i1.f();
  assert.deepEqual([i1.workd_dirty_lo.value >>> 0, i1.workd_dirty_hi.value >>> 0], [110, 112]);
});
