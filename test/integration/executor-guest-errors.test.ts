// What a failing guest says reaches its caller and its log: the text it
// aborts or panics with is in the status message (bounded), and output
// written by a call stopped at its CPU limit or deadline is still logged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { watToWasm, GUESTS_DIR } from '../helpers/guests.js';
import { compileAssemblyScript } from '../helpers/assemblyscript.js';
import { startGuest, tempDir, testExecutor } from '../helpers/executor.js';
import { Code } from '../../src/errors.js';
import type { GuestCall } from '../../src/wasm/api.js';

const call = (method: string, extra: Partial<GuestCall> = {}): GuestCall => ({ method, request: new Uint8Array(0), metadata: [], ...extra });
const ROOT = join(GUESTS_DIR, '..', '..', '..');

/** A guest that writes a line to stderr (as C's fprintf before abort() does), then traps, exits, or loops. */
const STDERR_GUEST = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 16) "words: reading the cart\\nfatal: the cart is on fire\\n")
  (data (i32.const 200) "working...\\n")
  (func (export "workd_alloc") (param i32) (result i32) (i32.const 1024))
  (func $err (param $p i32) (param $n i32) (param $fd i32)
    (i32.store (i32.const 128) (local.get $p))
    (i32.store (i32.const 132) (local.get $n))
    (drop (call $fd_write (local.get $fd) (i32.const 128) (i32.const 1) (i32.const 136))))
  (func (export "Abort") (param i32 i32) (result i32) (call $err (i32.const 16) (i32.const 51) (i32.const 2)) unreachable)
  (func (export "Exit") (param i32 i32) (result i32) (call $err (i32.const 16) (i32.const 51) (i32.const 2)) (call $exit (i32.const 3)) (i32.const 0))
  (func (export "Noisy") (param i32 i32) (result i32)
    (local $i i32)
    (loop $l
      (call $err (i32.const 200) (i32.const 11) (i32.const 1))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 10000))))
    unreachable)
  (func (export "PrintThenLoop") (param i32 i32) (result i32)
    (call $err (i32.const 200) (i32.const 11) (i32.const 1))
    (call $err (i32.const 16) (i32.const 51) (i32.const 2))
    (loop $l (br $l))
    (i32.const 0)))`;

test("the last lines a guest writes to stderr before it traps or exits are in the call's status message", async (t) => {
  const ex = testExecutor({ workers: 1 });
  t.after(() => ex.close());
  const c = await startGuest(ex, await watToWasm(STDERR_GUEST));
  const abort = await c.call(call('Abort'));
  assert.equal(abort.status, Code.INTERNAL);
  assert.equal(abort.message, "the component trapped: unreachable; the component's last stderr output: words: reading the cart | fatal: the cart is on fire");
  const exit = await c.call(call('Exit'));
  assert.match(exit.message, /exited with code 3; the component's last stderr output: .*fatal: the cart is on fire$/);
  // Bounded: 10,000 lines of output give at most the last few hundred bytes.
  const noisy = await c.call(call('Noisy'));
  assert.ok(noisy.message.length < 400, `${noisy.message.length} characters`);
  assert.match(noisy.message, /trapped: unreachable/);
});

test("an AssemblyScript guest's abort message, file and line reach the caller", async (t) => {
  // Inside the repository (under the build output), where the SDK's abort path resolves as it does for the examples.
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  const dir = mkdtempSync(join(ROOT, 'dist', 'as-abort-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sdk = relative(dir, join(ROOT, 'sdk', 'assemblyscript'));
  writeFileSync(
    join(dir, 'index.ts'),
    `import { respond } from "${sdk}";\nexport { workd_alloc } from "${sdk}";\n` +
      `export function Checkout(ptr: i32, len: i32): i32 {\n  if (len == 0) throw new Error("the cart is empty");\n  return respond(new Uint8Array(0));\n}\n`,
  );
  const ex = testExecutor({ workers: 1 });
  t.after(() => ex.close());
  const c = await startGuest(ex, await compileAssemblyScript(relative(ROOT, join(dir, 'index.ts'))));
  const r = await c.call(call('Checkout'));
  assert.equal(r.status, Code.INTERNAL);
  assert.match(r.message, /trapped: unreachable; the component's last stderr output: abort: the cart is empty at .*index\.ts:4:\d+/);
});

for (const how of ['CPU limit', 'deadline'] as const) {
  test(`output written by a call stopped at its ${how} reaches the container log`, async (t) => {
    const ex = testExecutor({ workers: 1, cpuMsPerCall: how === 'CPU limit' ? 100 : 10_000 });
    t.after(() => ex.close());
    const logPath = join(tempDir(), 'c.log');
    const c = await startGuest(ex, await watToWasm(STDERR_GUEST), { logPath });
    const r = await c.call(call('PrintThenLoop', how === 'deadline' ? { deadline: performance.now() + 100 } : {}));
    assert.equal(r.status, how === 'CPU limit' ? Code.RESOURCE_EXHAUSTED : Code.DEADLINE_EXCEEDED);
    await c.stop(1000);
    const log = readFileSync(logPath, 'utf8');
    assert.match(log, /stdout F working\.\.\./);
    assert.match(log, /stderr F fatal: the cart is on fire/);
  });
}
