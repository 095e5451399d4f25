// Guest stdout/stderr reach the container's CRI log; env and args reach the guest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { guest } from '../helpers/guests.js';
import { readCriLog, parseCriLog } from '../helpers/cri-logs.js';
import { startGuest, tempDir, testExecutor, text, utf8 } from '../helpers/executor.js';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { formatEntries, MAX_LINE } from '../../src/wasm/logs.js';

const call = (method: string, s = '') => ({ method, request: utf8(s), metadata: [] as const });

/** Logs are written behind the calls; wait until the expected count shows up. */
async function waitForLog(path: string, atLeast: number) {
  for (let i = 0; i < 200; i++) {
    try {
      const m = await readCriLog(path);
      if (m.length >= atLeast) return m;
    } catch {
      /* not created yet */
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return readCriLog(path);
}

test('stdout and stderr go to the log file in CRI format, with partial lines marked', async (t) => {
  const ex = testExecutor();
  t.after(() => ex.close());
  const logPath = join(tempDir(), 'pod', 'ctr', '0.log'); // parents are created
  const c = await startGuest(ex, await guest('kitchen'), { logPath });
  assert.equal(readFileSync(logPath, 'utf8'), '', 'the log exists, empty, from the start (crictl logs reads it)');
  assert.equal((await c.call(call('Print', 'hello\nworld\n'))).status, 0);
  assert.equal((await c.call(call('Print', 'no newline'))).status, 0);
  const messages = await waitForLog(logPath, 6);
  assert.deepEqual(
    messages.map((m) => [m.stream, m.text]),
    [
      ['stdout', 'hello'],
      ['stdout', 'world'],
      ['stderr', 'hello'],
      ['stderr', 'world'],
      ['stdout', 'no newline'],
      ['stderr', 'no newline'],
    ],
  );
  const entries = parseCriLog(await readFile(logPath, 'utf8'));
  assert.equal(entries.at(-1)!.partial, true);
  assert.match(entries[0]!.timeText, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  assert.ok(Math.abs(entries[0]!.time.getTime() - Date.now()) < 60_000);
});

test('huge output is capped per call and the drop is logged; the container keeps serving', async (t) => {
  const ex = testExecutor();
  t.after(() => ex.close());
  const logPath = join(tempDir(), 'flood.log');
  const c = await startGuest(ex, await guest('kitchen'), { logPath });
  const [flood, echo] = await Promise.all([c.call(call('Flood')), c.call(call('Echo', 'ok'))]);
  assert.equal(flood.status, 0);
  assert.equal(text(echo), 'ok');
  const messages = await waitForLog(logPath, 2);
  const big = messages.find((m) => m.stream === 'stdout')!;
  assert.equal(big.text.length, 1024 * 1024, 'exactly the 1 MiB cap of output');
  assert.ok(/^a+$/.test(big.text));
  assert.ok(messages.some((m) => /3145728 bytes of output dropped/.test(m.text)));
  const entries = parseCriLog(await readFile(logPath, 'utf8'));
  assert.ok(entries.every((e) => Buffer.byteLength(e.text) <= MAX_LINE), 'long lines are split');
});

test('reopenLog continues in a new file after rotation', async (t) => {
  const ex = testExecutor();
  t.after(() => ex.close());
  const dir = tempDir();
  const logPath = join(dir, 'c.log');
  const c = await startGuest(ex, await guest('kitchen'), { logPath });
  await c.call(call('Print', 'before\n'));
  await waitForLog(logPath, 2);
  await rename(logPath, `${logPath}.1`);
  await c.reopenLog();
  await c.call(call('Print', 'after\n'));
  assert.deepEqual((await waitForLog(logPath, 2)).map((m) => m.text), ['after', 'after']);
  assert.deepEqual((await readCriLog(`${logPath}.1`)).map((m) => m.text), ['before', 'before']);
});

test('environment variables and args reach the guest through WASI', async (t) => {
  const ex = testExecutor();
  t.after(() => ex.close());
  const wasm = await guest('kitchen');
  const c = await startGuest(ex, wasm, { imageId: 'sha256:env', env: { GREETING: 'hi there', EMPTY: '' }, args: ['serve', '--fast'] });
  assert.equal(text(await c.call(call('Env'))), 'GREETING=hi there\0EMPTY=\0');
  assert.equal(text(await c.call(call('Args'))), 'serve\0--fast\0');
  // another container of the same image with other env sees its own
  const d = await startGuest(ex, wasm, { imageId: 'sha256:env', env: { GREETING: 'bye' } });
  assert.equal(text(await d.call(call('Env'))), 'GREETING=bye\0');
  assert.equal(text(await c.call(call('Env'))), 'GREETING=hi there\0EMPTY=\0');
});

test('formatEntries splits on newlines and at the line limit', () => {
  const long = 'x'.repeat(MAX_LINE + 10);
  const out = formatEntries('stdout', utf8(`a\n${long}\nb`), '2026-01-01T00:00:00.000000000Z').toString();
  assert.equal(
    out,
    [
      '2026-01-01T00:00:00.000000000Z stdout F a',
      `2026-01-01T00:00:00.000000000Z stdout P ${'x'.repeat(MAX_LINE)}`,
      '2026-01-01T00:00:00.000000000Z stdout F xxxxxxxxxx',
      '2026-01-01T00:00:00.000000000Z stdout P b',
      '',
    ].join('\n'),
  );
});

test('a module whose initialisation reads env gets a snapshot per environment; others share one', async (t) => {
  const ex = testExecutor({ workers: 1 });
  t.after(() => ex.close());
  const { watToWasm } = await import('../helpers/guests.js');
  // _initialize records how many env vars it saw; Count answers that number.
  const wasm = await watToWasm(`(module
    (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
    (import "workd" "respond" (func $respond (param i32 i32)))
    (memory (export "memory") 1)
    (func (export "workd_alloc") (param i32) (result i32) i32.const 1024)
    (func (export "_initialize") (drop (call $sizes (i32.const 0) (i32.const 4))))
    (func (export "Count") (param i32 i32) (result i32) (call $respond (i32.const 0) (i32.const 1)) (i32.const 0)))`);
  const one = await startGuest(ex, wasm, { imageId: 'sha256:init-env', env: { A: '1' } });
  const three = await startGuest(ex, wasm, { imageId: 'sha256:init-env', env: { A: '1', B: '2', C: '3' } });
  for (let i = 0; i < 3; i++) {
    const [r1, r3] = await Promise.all([one.call(call('Count')), three.call(call('Count'))]);
    assert.deepEqual([r1.response![0], r3.response![0]], [1, 3]);
  }
});
