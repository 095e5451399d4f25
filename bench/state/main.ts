// State store benchmark: commit latency against the floor measured in the same run
// (one write + fdatasync of the same bytes on a plain file, the cost a durable answer
// cannot avoid), and group commit under concurrent commits.
//
//   npm run bench:state
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore } from '../../src/state/store.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 2000);

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function record(i: number): unknown {
  // About the size of a container record: labels, annotations, timestamps, a log path.
  return {
    sandbox: `example.com:foo.Bar@1.2.3#${i}`,
    state: 'RUNNING',
    labels: { 'io.kubernetes.container.name': 'app', 'io.kubernetes.pod.name': `pod-${i}`, 'io.kubernetes.pod.namespace': 'default' },
    annotations: { 'io.kubernetes.container.hash': 'abcdef12', 'io.kubernetes.container.restartCount': '0' },
    createdAt: 1764763200123456789n + BigInt(i),
    startedAt: 1764763200223456789n + BigInt(i),
    logPath: `/var/log/pods/default_pod-${i}_0123/app/0.log`,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'workd-bench-state-'));
  try {
    // Floor: append the same frame size and fdatasync, nothing else.
    const frameBytes = Buffer.byteLength(JSON.stringify([['container', 'x'.repeat(64), record(0)]], (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))) + 8;
    const fh = await open(join(dir, 'floor'), 'w');
    const buf = Buffer.alloc(frameBytes, 1);
    const floor: number[] = [];
    for (let i = 0, pos = 0; i < SAMPLES; i++, pos += frameBytes) {
      const t0 = performance.now();
      await fh.write(buf, 0, buf.length, pos);
      await fh.datasync();
      floor.push(performance.now() - t0);
    }
    await fh.close();
    floor.sort((a, b) => a - b);

    const store = await StateStore.open(join(dir, 'store'));
    const lat: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const id = i.toString(16).padStart(64, '0');
      const t0 = performance.now();
      await store.commit([{ kind: 'container', id, value: record(i) }]);
      lat.push(performance.now() - t0);
    }
    lat.sort((a, b) => a - b);

    const before = store.stats();
    const CONCURRENT = 16;
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENT }, async () => {
        while (next < SAMPLES * 2) {
          const i = next++;
          await store.commit([{ kind: 'container', id: `c${i}`, value: record(i) }]);
        }
      }),
    );
    const s = (performance.now() - t0) / 1000;
    const after = store.stats();
    await store.close();

    console.log(`state store benchmark (${SAMPLES} sequential commits of one ~${frameBytes}-byte record; load ${(await import('node:os')).loadavg()[0]!.toFixed(2)})`);
    console.log(`floor: write+fdatasync p50 ${quantile(floor, 0.5).toFixed(3)} ms, p99 ${quantile(floor, 0.99).toFixed(3)} ms`);
    console.log(`commit p50 ${quantile(lat, 0.5).toFixed(3)} ms (${(quantile(lat, 0.5) / quantile(floor, 0.5)).toFixed(2)} × floor), p99 ${quantile(lat, 0.99).toFixed(3)} ms (${(quantile(lat, 0.99) / quantile(floor, 0.99)).toFixed(2)} × floor)`);
    const commits = after.commits - before.commits;
    const syncs = after.syncs - before.syncs;
    console.log(`${CONCURRENT} in flight: ${(commits / s).toFixed(0)} commits/s, ${(commits / syncs).toFixed(1)} commits per fdatasync`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
