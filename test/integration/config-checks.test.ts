// A configuration that cannot work stops `workd serve` at once with a message
// naming what is wrong: limits that are negative or fractional, a data plane
// address in use, a state dir under /proc (it used to spin at 100% CPU) or
// otherwise unusable. The real binary, as an operator starts it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WORKD_BIN } from '../helpers/daemon.js';

let dir: string;
let n = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'workd-config-checks-'));
});
after(() => rm(dir, { recursive: true, force: true }));

/** Runs `workd serve` expecting it to stop by itself; returns its exit code and stderr. */
function serve(args: string[], config?: string): Promise<{ code: number | null; stderr: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const i = n++;
    const run = async () => {
      const extra: string[] = [];
      if (config !== undefined) {
        await writeFile(join(dir, `c${i}.toml`), config);
        extra.push('--config', join(dir, `c${i}.toml`));
      }
      const t0 = performance.now();
      const child = spawn(process.execPath, [WORKD_BIN, 'serve', '--cri-socket', join(dir, `s${i}.sock`), '--listen', '127.0.0.1:0', '--plaintext', ...extra, ...args], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr, ms: performance.now() - t0 });
      });
    };
    run().catch(reject);
  });
}

const lastLine = (s: string) => s.trim().split('\n').at(-1) ?? '';

test('negative or fractional limits are refused naming the key', async () => {
  for (const [toml, why] of [
    ['[images]\nmax_layers = -3\n', /\[images\] max_layers must be a positive integer, not -3/],
    ['[images]\nmax_blob_bytes = 2.5\n', /\[images\] max_blob_bytes must be a whole number \(bytes\), not 2\.5/],
    ['[cri]\nmax_annotations_bytes = 0\n', /\[cri\] max_annotations_bytes must be a positive integer, not 0/],
    ['[executor]\nworkers = -1.5\n', /executor\.workers must be a whole number \(0 = one per core\), not -1\.5/],
  ] as const) {
    const r = await serve(['--state-dir', join(dir, `st${n}`)], toml);
    assert.notEqual(r.code, 0, toml);
    assert.match(lastLine(r.stderr), why);
  }
});

test('a data plane address in use is refused naming the data plane and the address', async () => {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  try {
    const r = await serve(['--state-dir', join(dir, 'st-listen'), '--listen', `127.0.0.1:${port}`]);
    assert.notEqual(r.code, 0);
    assert.match(lastLine(r.stderr), new RegExp(`data plane \\(gRPC over HTTP/2[^)]*\\) cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use.*EADDRINUSE`));
  } finally {
    srv.close();
  }
});

test('a state dir under /proc, through a symlink into /proc, or that is a file, is refused at once', async () => {
  await symlink('/proc/self', join(dir, 'proc-link'));
  await writeFile(join(dir, 'a-file'), '');
  for (const [stateDir, why] of [
    ['/proc/workd-state', /state dir \/proc\/workd-state: is under \/proc, a kernel file system/],
    [join(dir, 'proc-link', 'x'), /resolves into \/proc/],
    ['/sys/fs/workd', /is under \/sys/],
    [join(dir, 'a-file'), /exists and is not a directory/],
  ] as const) {
    const r = await serve(['--state-dir', stateDir]);
    assert.notEqual(r.code, 0, stateDir);
    assert.match(lastLine(r.stderr), why);
    assert.ok(r.ms < 20_000, `${stateDir}: stopped after ${r.ms} ms`);
  }
});
