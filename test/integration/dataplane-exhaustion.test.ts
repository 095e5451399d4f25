// Exhaustion held off (issue 12 item 4), against the real daemon: with its
// open-file limit lowered (prlimit) and the data plane's TCP connections at
// their cap — held by two other client processes that open far more idle
// connections than the cap — the CRI still accepts a new connection and
// answers Version within 100 ms, and the data plane still serves a call.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { criClient } from '../helpers/cri-client.js';

const NOFILE = 700;
const FD_RESERVE = 300;
const CAP = NOFILE - FD_RESERVE;
let d: TestDaemon;
let dir: string;
const holders: ChildProcess[] = [];

// A client process that opens `n` plaintext TCP connections to the data plane, sends
// nothing, and reports how many the server closed at once and how many it keeps.
const HOLDER = `
import net from 'node:net';
const [port, n] = process.argv.slice(2).map(Number);
let closed = 0;
for (let i = 0; i < n; i++) {
  const s = net.connect({ port, host: '127.0.0.1' });
  s.on('close', () => closed++);
  s.on('error', () => {});
}
// Time for the server to accept (or close) all of them, on a loaded machine too.
setTimeout(() => process.stdout.write(JSON.stringify({ open: n - closed, refused: closed }) + '\\n'), 5000);
setInterval(() => {}, 1000);
`;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'workd-exhaust-'));
  writeFileSync(join(dir, 'holder.mjs'), HOLDER);
  d = await startDaemon({
    args: ['--plaintext'],
    logLevel: 'info',
    launcher: ['prlimit', `--nofile=${NOFILE}`],
    configToml: `[dataplane]\nfd_reserve = ${FD_RESERVE}\n[dataplane.http2]\nmax_connections_per_peer = 100000\nfirst_request_timeout_ms = 120000\n`,
  });
});

after(async () => {
  for (const h of holders) h.kill('SIGKILL');
  await d?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function hold(n: number): Promise<{ open: number; refused: number }> {
  const child = spawn(process.execPath, [join(dir, 'holder.mjs'), String(d.ready.tcpPort), String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
  holders.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('\n')) resolve(JSON.parse(out));
    });
    child.on('exit', (code) => reject(new Error(`holder exited (${code})`)));
  });
}

/** The fastest of `n` CRI Versions, each on a new connection (which needs a descriptor of its own), as the kubelet connects. */
async function versionMs(n: number): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < n; i++) {
    const cri = criClient(d.criSocket);
    try {
      const t0 = performance.now();
      const v = (await cri.runtime.Version!({ version: 'v1' })) as { runtime_name: string };
      best = Math.min(best, performance.now() - t0);
      assert.equal(v.runtime_name, 'workd');
    } finally {
      cri.close();
    }
  }
  return best;
}

test('with the data plane at its connection cap, the CRI answers Version within 100 ms and the data plane still serves', { timeout: 60_000 }, async () => {
  await versionMs(1); // loads grpc-js's CRI descriptors once
  const baseline = await versionMs(3);
  // Two processes, 350 idle connections each: 700 in all, well over the cap of 400 (and the process's 700 descriptors).
  const [a, b] = await Promise.all([hold(350), hold(350)]);
  const fds = readdirSync(`/proc/${d.process.pid}/fd`).length;
  assert.ok(fds < NOFILE - FD_RESERVE / 2, `the daemon holds ${fds} descriptors of ${NOFILE}: the reserve is kept`);
  assert.ok(a.refused + b.refused >= 700 - CAP - 50, `connections past the cap are closed (${a.refused + b.refused} of 700 closed)`);
  assert.ok(a.open + b.open >= CAP - 50, `the data plane takes connections up to its cap (${a.open + b.open} of ${CAP})`);

  // New CRI connections and Version, as the kubelet does. 100 ms is the goal on an idle machine;
  // on a loaded one (2 shared cores) the same-run baseline without the flood bounds it too.
  const atCap = await versionMs(3);
  console.log(`CRI Version on a new connection: ${baseline.toFixed(1)} ms before the flood, ${atCap.toFixed(1)} ms at the cap`);
  assert.ok(atCap < Math.max(100, 2 * baseline), `CRI Version took ${atCap.toFixed(1)} ms at the cap (${baseline.toFixed(1)} ms before)`);
  assert.equal(d.process.exitCode, null);
  await d.waitForLog((r) => /TCP connections capped by the open-file limit/.test(String(r.msg)));

  // Once a holder goes, its places come back: a real gRPC client is served again.
  holders[0]!.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 500));
  const client = new grpc.Client(`127.0.0.1:${d.ready.tcpPort}`, grpc.credentials.createInsecure());
  try {
    const res = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest('/grpc.health.v1.Health/Check', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), { deadline: Date.now() + 10_000 }, (err, r) => (err ? reject(err) : resolve(r!))),
    );
    assert.deepEqual(res, Buffer.from([0x08, 0x01]));
  } finally {
    client.close();
  }
});
