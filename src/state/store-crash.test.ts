// kill -9 of a process that is committing, at random moments and at exact points
// (WORKD_KILL_AT), then a reopen: every commit it was told was durable is there, and
// no commit is there in part. The writer: test/helpers/state-writer.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StateStore } from './store.js';

const WRITER = fileURLToPath(new URL('../../test/helpers/state-writer.js', import.meta.url));

interface Run {
  readonly acked: number;
  readonly started: number;
  readonly signal: NodeJS.Signals | null;
}

/** Runs the writer until it has acked a few commits and `killAfterMs` passed (or it kills itself). */
/** `signal` is what the timer sends; SIGTERM lets a test tell "the point was never reached" from a kill point's SIGKILL. */
function runWriter(dir: string, killAfterMs: number, env: Record<string, string> = {}, signal: NodeJS.Signals = 'SIGKILL'): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, dir, '8', String(50 + Math.floor(Math.random() * 2000))], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let acked = -1;
    let started = -1;
    let buf = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      buf += s;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        const [word, n] = line.split(' ');
        if (word === 'ack') acked = Math.max(acked, Number(n));
        if (word === 'start') {
          started = Number(n);
          timer ??= setTimeout(() => child.kill(signal), killAfterMs);
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      resolve({ acked, started, signal });
    });
  });
}

async function checkRecovered(dir: string, run: Run): Promise<number> {
  const s = await StateStore.open(dir);
  try {
    const x = s.get<number>('a', 'x') ?? -1;
    const y = s.get<number>('b', 'y') ?? -1;
    assert.equal(x, y, 'a commit is there whole or not at all');
    assert.ok(x >= run.acked, `commit ${run.acked} was acknowledged, the state has only ${x}`);
    const c = [...s.list<{ i: number; at: bigint }>('c').entries()];
    const expected = Array.from({ length: Math.min(10, x + 1) }, (_, k) => String(x - k)).sort();
    assert.deepEqual(c.map(([id]) => id).sort(), expected);
    for (const [id, v] of c) assert.equal(v.at, BigInt(id) * 1_000_000_007n);
    return x;
  } finally {
    await s.close();
  }
}

test('kill -9 at random moments while committing: acknowledged commits survive, none half', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'workd-state-crash-'));
  try {
    let last = -1;
    for (let round = 0; round < 12; round++) {
      const run = await runWriter(dir, 20 + Math.random() * 250);
      assert.equal(run.signal, 'SIGKILL');
      assert.equal(run.started, last + 1, 'the writer resumed after the last commit that survived');
      last = await checkRecovered(dir, run);
    }
    assert.ok(last > 100, `only ${last} commits in 12 rounds`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kill -9 at exact points: before the write, before and after fdatasync, around the snapshot rename', async () => {
  const points = ['state:before-write@40', 'state:before-sync@25', 'state:after-sync@60', 'state:before-snapshot-rename', 'state:after-snapshot-rename', 'state:before-sync@3'];
  const dir = mkdtempSync(join(tmpdir(), 'workd-state-points-'));
  try {
    let last = -1;
    for (const point of points) {
      const run = await runWriter(dir, 20_000, { WORKD_KILL_AT: point }, 'SIGTERM');
      assert.equal(run.signal, 'SIGKILL', `${point} was reached`);
      last = await checkRecovered(dir, run);
    }
    assert.ok(last > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
