// Modules that do not follow guest ABI v1 are refused with a message naming the problem.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { watToWasm } from '../helpers/guests.js';
import { readCriLog } from '../helpers/cri-logs.js';
import { startGuest, tempDir, testExecutor, text, utf8 } from '../helpers/executor.js';
import { Code, WorkdError } from '../../src/errors.js';

const ALLOC = '(func (export "workd_alloc") (param i32) (result i32) i32.const 1024)';
const mod = (body: string) => watToWasm(`(module ${body})`);
const refused = (code: number, re: RegExp) => (e: unknown) => e instanceof WorkdError && e.code === code && re.test(e.message);

test('an unknown ABI version is refused with FAILED_PRECONDITION', async (t) => {
  const ex = testExecutor({ workers: 1 });
  t.after(() => ex.close());
  const wasm = await mod(`(memory (export "memory") 1) ${ALLOC}`);
  await assert.rejects(ex.prepare('sha256:v2', wasm, 2), refused(Code.FAILED_PRECONDITION, /guest ABI version 2; this node implements version 1/));
});

test('modules breaking the ABI are refused at prepare, naming the problem', async (t) => {
  const ex = testExecutor({ workers: 1 });
  t.after(() => ex.close());
  const cases: [string, string, RegExp][] = [
    ['no memory export', `(memory 1) ${ALLOC}`, /does not export its memory as "memory"/],
    ['no allocator', '(memory (export "memory") 1)', /does not export the function workd_alloc/],
    ['bad allocator', '(memory (export "memory") 1) (func (export "workd_alloc") (param i64) (result i32) i32.const 0)', /workd_alloc has type \(i64\) -> \(i32\)/],
    ['bad method', `(memory (export "memory") 1) ${ALLOC} (func (export "AddFloats") (param f64 f64) (result f64) f64.const 0)`, /method export "AddFloats" has type \(f64, f64\) -> \(f64\); methods must be \(i32, i32\) -> \(i32\)/],
    ['foreign import', `(import "env" "abort" (func (param i32 i32 i32 i32))) (memory (export "memory") 1) ${ALLOC}`, /import env\.abort: the node provides only the modules wasi_snapshot_preview1 and workd/],
    ['wrong import type', `(import "workd" "respond" (func (param i32))) (memory (export "memory") 1) ${ALLOC}`, /import workd\.respond has type \(i32\) -> \(\); the node provides \(i32, i32\) -> \(\)/],
    ['unknown wasi function', `(import "wasi_snapshot_preview1" "sock_open" (func (param i32) (result i32))) (memory (export "memory") 1) ${ALLOC}`, /import wasi_snapshot_preview1\.sock_open: not a function the node provides/],
    ['imported memory', `(import "env" "memory" (memory 1)) (export "memory" (memory 0)) ${ALLOC}`, /env\.memory/],
  ];
  for (const [name, body, re] of cases) {
    await assert.rejects(ex.prepare(`sha256:${name}`, await mod(body), 1), refused(Code.INVALID_ARGUMENT, re), name);
  }
  await assert.rejects(ex.prepare('sha256:junk', utf8('not wasm at all'), 1), refused(Code.INVALID_ARGUMENT, /not valid WebAssembly.*bad magic/));
  const component = Uint8Array.from([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]);
  await assert.rejects(ex.prepare('sha256:component', component, 1), refused(Code.INVALID_ARGUMENT, /component-model/));
});

test('a module that traps while initialising does not start, and says why', async (t) => {
  const ex = testExecutor({ workers: 1 });
  t.after(() => ex.close());
  const m = await ex.prepare('sha256:bad-init', await mod(`(memory (export "memory") 1) ${ALLOC} (func (export "_initialize") unreachable)`), 1);
  await assert.rejects(ex.start({ containerId: 'x', module: m, env: {}, limits: {} }), refused(Code.FAILED_PRECONDITION, /initialisation failed: unreachable/));
  const s = await ex.prepare('sha256:bad-start', await mod(`(memory (export "memory") 1) ${ALLOC} (func $s (drop (i32.div_s (i32.const 1) (i32.const 0)))) (start $s)`), 1);
  await assert.rejects(ex.start({ containerId: 'y', module: s, env: {}, limits: {} }), refused(Code.FAILED_PRECONDITION, /divide by zero/));
});

test('_initialize runs once before the snapshot; its output is logged once at start', async (t) => {
  const ex = testExecutor({ workers: 2 });
  t.after(() => ex.close());
  const wasm = await mod(`
    (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
    (import "workd" "respond" (func $respond (param i32 i32)))
    (memory (export "memory") 1)
    (global $ready (mut i32) (i32.const 0))
    (data (i32.const 100) "ready\\n")
    ${ALLOC}
    (func (export "_initialize")
      (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 6))
      (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (global.set $ready (i32.const 42)))
    (func (export "Ready") (param i32 i32) (result i32)
      (i32.store (i32.const 200) (global.get $ready))
      (global.set $ready (i32.const 0))
      (call $respond (i32.const 200) (i32.const 4))
      (i32.const 0))`);
  const logPath = join(tempDir(), 'init.log');
  const m = await ex.prepare('sha256:init', wasm, 1);
  const c = await ex.start({ containerId: 'i', module: m, env: {}, limits: {}, logPath });
  const rs = await Promise.all(Array.from({ length: 50 }, () => c.call({ method: 'Ready', request: new Uint8Array(0), metadata: [] })));
  for (const r of rs) assert.equal(r.response![0], 42, 'every call sees the initialised state');
  await c.stop(100);
  assert.deepEqual((await readCriLog(logPath)).map((x) => x.text), ['ready']);
  assert.equal(text(rs[0]!).length, 4);
  // A second container of the image logs its own initialisation too, though an initialised instance already exists.
  const logPath2 = join(tempDir(), 'init2.log');
  const c2 = await ex.start({ containerId: 'i2', module: m, env: {}, limits: {}, logPath: logPath2 });
  await c2.stop(100);
  assert.deepEqual((await readCriLog(logPath2)).map((x) => x.text), ['ready']);
});

test('initialisation that never ends is stopped at the time limit and the container does not start', async (t) => {
  const ex = testExecutor({ workers: 1, cpuMsPerCall: 300 });
  t.after(() => ex.close());
  const m = await ex.prepare('sha256:init-loop', await mod(`(memory (export "memory") 1) ${ALLOC} (func (export "_initialize") (loop $l (br $l)))`), 1);
  await assert.rejects(ex.start({ containerId: 'z', module: m, env: {}, limits: {} }), refused(Code.RESOURCE_EXHAUSTED, /CPU limit of 300 ms/));
  // the executor still works afterwards
  const ok = await ex.prepare('sha256:init-ok', await mod(`(memory (export "memory") 1) ${ALLOC} (func (export "Nop") (param i32 i32) (result i32) i32.const 0)`), 1);
  const c = await ex.start({ containerId: 'ok', module: ok, env: {}, limits: {} });
  assert.equal((await c.call({ method: 'Nop', request: utf8('x'), metadata: [] })).status, 0);
});

test('WASI functions answer the errno docs/guest-abi.md gives, negative fds included', async (t) => {
  const ex = testExecutor({ workers: 1 });
  t.after(() => ex.close());
  // Each probe stores its errno as one byte at 512 + i; the response is those bytes.
  const probes: [string, number][] = [
    ['(call $fdstat (i32.const 1) (i32.const 64))', 0],
    ['(i32.load8_u (i32.const 64))', 2], // filetype: character device
    ['(call $fdstat (i32.const 3) (i32.const 64))', 8],
    ['(call $fdstat (i32.const -1) (i32.const 64))', 8],
    ['(call $seek (i32.const 1) (i64.const 0) (i32.const 0) (i32.const 64))', 70],
    ['(call $seek (i32.const 3) (i64.const 0) (i32.const 0) (i32.const 64))', 8],
    ['(call $seek (i32.const -1) (i64.const 0) (i32.const 0) (i32.const 64))', 8],
    ['(call $tell (i32.const -2) (i32.const 64))', 8],
    ['(call $close (i32.const 1))', 8],
    ['(call $prestat (i32.const 3) (i32.const 64))', 8],
    ['(call $prestat_name (i32.const 3) (i32.const 64) (i32.const 8))', 8],
    ['(call $read (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 64))', 0],
    ['(call $read (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 64))', 8],
    ['(call $write (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 64))', 8],
    ['(call $clock (i32.const 1) (i64.const 0) (i32.const 64))', 0],
    ['(call $clock (i32.const 4) (i64.const 0) (i32.const 64))', 28],
    ['(call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 64))', 52],
    ['(call $yield)', 0],
  ];
  const W = 'wasi_snapshot_preview1';
  const wasm = await mod(`
    (import "${W}" "fd_fdstat_get" (func $fdstat (param i32 i32) (result i32)))
    (import "${W}" "fd_seek" (func $seek (param i32 i64 i32 i32) (result i32)))
    (import "${W}" "fd_tell" (func $tell (param i32 i32) (result i32)))
    (import "${W}" "fd_close" (func $close (param i32) (result i32)))
    (import "${W}" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
    (import "${W}" "fd_prestat_dir_name" (func $prestat_name (param i32 i32 i32) (result i32)))
    (import "${W}" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
    (import "${W}" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
    (import "${W}" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
    (import "${W}" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
    (import "${W}" "sched_yield" (func $yield (result i32)))
    (import "workd" "respond" (func $respond (param i32 i32)))
    (memory (export "memory") 1)
    ${ALLOC}
    (func (export "Probe") (param i32 i32) (result i32)
      ${probes.map(([call], i) => `(i32.store8 (i32.const ${512 + i}) ${call})`).join('\n      ')}
      (call $respond (i32.const 512) (i32.const ${probes.length}))
      (i32.const 0))`);
  const c = await startGuest(ex, wasm);
  const r = await c.call({ method: 'Probe', request: new Uint8Array(0), metadata: [] });
  assert.equal(r.status, Code.OK, r.message);
  assert.deepEqual(
    probes.map(([call], i) => [call, r.response![i]]),
    probes.map(([call, errno]) => [call, errno]),
  );
});

test('workd_alloc(0) may return any address; a non-empty request outside memory fails with INTERNAL', async (t) => {
  const ex = testExecutor({ workers: 1 });
  t.after(() => ex.close());
  const wasm = await mod(`
    (memory (export "memory") 1)
    (func (export "workd_alloc") (param i32) (result i32) i32.const -1)
    (func (export "Nop") (param i32 i32) (result i32) i32.const 0)`);
  const c = await startGuest(ex, wasm);
  const empty = await c.call({ method: 'Nop', request: new Uint8Array(0), metadata: [] });
  assert.equal(empty.status, Code.OK, empty.message);
  const full = await c.call({ method: 'Nop', request: utf8('x'), metadata: [] });
  assert.equal(full.status, Code.INTERNAL);
  assert.match(full.message, /workd_alloc\(1\) returned 4294967295, outside the guest's memory/);
});

test('an image evicted while it compiles stays evicted', async (t) => {
  const ex = testExecutor({ workers: 1 });
  t.after(() => ex.close());
  const wasm = await mod(`(memory (export "memory") 1) ${ALLOC} (func (export "Nop") (param i32 i32) (result i32) i32.const 0)`);
  const preparing = ex.prepare('sha256:evicted', wasm, 1);
  ex.evict('sha256:evicted');
  const m = await preparing;
  await assert.rejects(ex.start({ containerId: 'e', module: m, env: {}, limits: {} }), refused(Code.FAILED_PRECONDITION, /has not been prepared \(or was evicted\)/));
});
