// What the real daemon's garbage collector keeps under HTTP/3 load: calls to a
// running WebAssembly component, 64 in flight over 4 connections. A finished
// call must not survive young-generation GCs. It did, ~1.3 MB per scavenge,
// all promoted to the old generation, through two V8 behaviours that look
// harmless in code: Map/Set tables that gain and lose an entry per call (see
// src/util/id-map.ts) and a per-call closure that set off allocation-site
// pretenuring (src/wasm/worker-pool.ts). This guards against either coming
// back in the QUIC, HTTP/3, gRPC or executor path. Memory, not time: the
// figure is bytes that survive each scavenge, as V8 reports it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { criClient, type CriClient } from '../helpers/cri-client.js';
import { msg, startComponent } from './dataplane-fixture.js';
import { Http3Client } from '../../src/dataplane/http3/client.js';
import { Code } from '../../src/errors.js';

let d: TestDaemon;
let cri: CriClient;
const clients: Http3Client[] = [];

before(async () => {
  d = await startDaemon({ logLevel: 'warn', nodeArgs: ['--trace-gc-nvp'] });
  cri = criClient(d.criSocket);
  await startComponent(cri, 'example.com:foo.Bar@1.0.0');
  for (let i = 0; i < 4; i++) clients.push(await Http3Client.connect({ host: '127.0.0.1', port: d.ready.udpPort, servername: 'localhost' }));
});

after(async () => {
  for (const c of clients) c.close();
  cri?.close();
  await d?.stop();
});

/** n unary calls, 16 in flight per connection; `timeoutMs(i)` gives call i a deadline (grpc-timeout). */
async function load(n: number, timeoutMs?: (i: number) => number): Promise<void> {
  let next = 0;
  await Promise.all(
    clients.flatMap((c) =>
      Array.from({ length: 16 }, async () => {
        while (next < n) {
          const i = next++;
          const r = await c.unary({ authority: 'example.com', path: '/foo.Bar/Echo', message: msg('hello, data plane'), timeoutMs: timeoutMs?.(i) });
          assert.equal(r.code, Code.OK, r.message);
        }
      }),
    ),
  );
}

/** The main isolate's scavenges in --trace-gc-nvp output: bytes that survived each. */
function survivedPerScavenge(stdout: string): number[] {
  const out: number[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.includes(' gc=s ')) continue;
    const allocated = Number(/ allocated=(\d+)/.exec(line)?.[1] ?? 0);
    // Worker isolates (the executor's) scavenge small young generations; the data plane's is the large one.
    if (allocated < 4_000_000) continue;
    out.push(Number(/ new_space_survived=(\d+)/.exec(line)![1]));
  }
  return out;
}

/** Median bytes surviving each scavenge of the daemon while `work` runs. */
async function medianSurvived(work: () => Promise<void>): Promise<{ median: number; all: number[] }> {
  const before = survivedPerScavenge(d.stdout()).length;
  await work();
  const all = survivedPerScavenge(d.stdout()).slice(before);
  assert.ok(all.length >= 5, `only ${all.length} scavenges under load; stdout:\n${d.stdout().slice(-2000)}`);
  const sorted = [...all].sort((a, b) => a - b);
  return { median: sorted[sorted.length >> 1]!, all };
}

// The calls in flight survive a scavenge legitimately (64 × a few KB); finished ones made it ~1.3 MB.
const LIMIT = 400_000;

test('finished HTTP/3 calls to a component do not survive young-generation GCs', { timeout: 120_000 }, async () => {
  await load(10_000); // warm-up: code optimised, tables and pools at their working size
  const { median, all } = await medianSurvived(() => load(40_000));
  assert.ok(median < LIMIT, `median ${median} bytes survived each scavenge (all: ${all.join(' ')})`);
});

test('the same with a deadline on every call: request headers that differ call after call', { timeout: 120_000 }, async () => {
  // A grpc-timeout that changes with each call makes every request field section new
  // (the QPACK decode cache once kept ~750 KB of them alive per scavenge).
  const { median, all } = await medianSurvived(() => load(40_000, (i) => 30_000 + (i % 5000)));
  assert.ok(median < LIMIT, `median ${median} bytes survived each scavenge (all: ${all.join(' ')})`);
});
