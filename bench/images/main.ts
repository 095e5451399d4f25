// Image pull benchmarks against the real registry on loopback (docker-registry).
//
// 1. Throughput of pulling a 20 MB module (download, sha256, write, fsync,
//    rename, register) as a ratio to a plain HTTP GET of the same blob from
//    the same registry in the same run (target >= 0.9x).
// 2. PullImage latency for an image already present, through the daemon's CRI
//    socket, by digest and by tag (the tag costs one HEAD to the registry), as
//    a ratio to the CRI Version rpc on the same socket (target p50 <= 1 ms).
//
// Run: npm run build && npm run bench:images
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openImageStore } from '../../src/images/image-store.js';
import { pushLayout } from '../../src/images/push.js';
import { criClient } from '../../test/helpers/cri-client.js';
import { startDaemon } from '../../test/helpers/daemon.js';
import { buildTestImage, paddedWasm } from '../../test/helpers/images.js';
import { startRegistry } from '../../test/helpers/registry.js';

const MB = 1_000_000;
const agent = new http.Agent({ keepAlive: true });
const SIZE = 20 * MB;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const LATENCY_CALLS = Number(process.env.BENCH_CALLS ?? 2000);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
}

/** A plain GET with node:http, the body counted and dropped. */
function plainGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    http.get(url, { agent }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => (n === SIZE ? resolve(performance.now() - t0) : reject(new Error(`short read ${n}`))));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** A plain download to a file, as `curl -o` does it (no hashing, no fsync). */
function plainDownload(url: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    http.get(url, { agent }, (res) => {
      const out = createWriteStream(path);
      res.pipe(out);
      out.on('finish', () => resolve(performance.now() - t0));
      out.on('error', reject);
      res.on('error', reject);
    }).on('error', reject);
  });
}

async function main(): Promise<void> {
  const reg = await startRegistry();
  const img = await buildTestImage({ component: 'example.com:bench.Big@1.0.0', wasm: paddedWasm(SIZE) });
  const ref = `${reg.host}/example.com/bench.big:1.0.0`;
  await pushLayout({ dir: img.dir, reference: ref });
  const { readFile } = await import('node:fs/promises');
  const manifest = JSON.parse(await readFile(join(img.dir, 'blobs', 'sha256', img.manifestDigest.slice(7)), 'utf8'));
  const wasmUrl = `http://${reg.host}/v2/example.com/bench.big/blobs/${manifest.layers[0].digest}`;

  const storeDir = await mkdtemp(join(tmpdir(), 'workd-bench-images-'));
  const store = await openImageStore({ dir: storeDir, log: pino({ level: 'silent' }), insecureRegistries: [] });
  const get: number[] = [];
  const download: number[] = [];
  const pull: number[] = [];
  await plainGet(wasmUrl); // warm the registry's page cache and the connection pool
  for (let i = 0; i < ROUNDS; i++) {
    get.push(await plainGet(wasmUrl));
    download.push(await plainDownload(wasmUrl, join(storeDir, 'plain.bin')));
    await rm(join(storeDir, 'plain.bin'));
    const t0 = performance.now();
    const r = await store.pull(ref);
    pull.push(performance.now() - t0);
    await store.remove(r.id);
  }
  await store.close();
  await rm(storeDir, { recursive: true, force: true });
  const getMBs = SIZE / MB / (median(get) / 1000);
  const downloadMBs = SIZE / MB / (median(download) / 1000);
  const pullMBs = SIZE / MB / (median(pull) / 1000);

  // PullImage of an image already present, over the CRI socket.
  const daemon = await startDaemon({ logLevel: 'warn' });
  const cri = criClient(daemon.criSocket);
  const { image_ref } = await cri.image.PullImage!({ image: { image: ref } });
  const byDigest = `${reg.host}/example.com/bench.big@${img.manifestDigest}`;
  await cri.image.PullImage!({ image: { image: byDigest } });
  const time = async (fn: () => Promise<unknown>): Promise<number[]> => {
    for (let i = 0; i < 200; i++) await fn();
    const out: number[] = [];
    for (let i = 0; i < LATENCY_CALLS; i++) {
      const t0 = performance.now();
      await fn();
      out.push(performance.now() - t0);
    }
    return out;
  };
  const version = await time(() => cri.runtime.Version!({}));
  const digestPull = await time(() => cri.image.PullImage!({ image: { image: byDigest } }));
  const tagPull = await time(() => cri.image.PullImage!({ image: { image: ref } }));
  const idPull = await time(() => cri.image.PullImage!({ image: { image: image_ref } }));
  cri.close();
  await daemon.stop();
  await reg.stop();
  await img.cleanup();

  const f = (x: number) => x.toFixed(3);
  const lines = [
    `images: pull of a ${SIZE / MB} MB module from docker-registry on loopback (${ROUNDS} rounds, medians)`,
    `  plain HTTP GET of the blob   ${f(median(get))} ms   ${getMBs.toFixed(0)} MB/s   (baseline: body dropped)`,
    `  plain download to a file     ${f(median(download))} ms   ${downloadMBs.toFixed(0)} MB/s   ratio ${(downloadMBs / getMBs).toFixed(2)}x   (curl -o: no hash, no fsync)`,
    `  workd pull                   ${f(median(pull))} ms   ${pullMBs.toFixed(0)} MB/s   ratio ${(pullMBs / getMBs).toFixed(2)}x to GET (target >= 0.9x), ${(pullMBs / downloadMBs).toFixed(2)}x to download`,
    `    (manifest + config + 20 MB module + descriptor set: sha256-verified, written, fsynced, renamed, registered)`,
    `images: PullImage of an image already present, CRI socket (${LATENCY_CALLS} calls)`,
    `  Version rpc (baseline)       p50 ${f(median(version))} ms   p99 ${f(pct(version, 0.99))} ms`,
    `  PullImage by image ID        p50 ${f(median(idPull))} ms   p99 ${f(pct(idPull, 0.99))} ms   ratio ${(median(idPull) / median(version)).toFixed(2)}x`,
    `  PullImage by digest          p50 ${f(median(digestPull))} ms   p99 ${f(pct(digestPull, 0.99))} ms   ratio ${(median(digestPull) / median(version)).toFixed(2)}x   (target p50 <= 1 ms)`,
    `  PullImage by tag (1 HEAD)    p50 ${f(median(tagPull))} ms   p99 ${f(pct(tagPull, 0.99))} ms   ratio ${(median(tagPull) / median(version)).toFixed(2)}x`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:images: ${err instanceof Error ? err.stack : String(err)}\n`);
  // Exiting ends the daemon (its helper kills it on exit) and the registry (its stdin closes).
  process.exit(1);
});
