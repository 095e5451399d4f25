// The independent HTTP/3 load generator: h3load (bench/http3/h3load/main.go),
// a small driver over quic-go's own HTTP/3 client from Debian
// (golang-github-lucas-clemente-quic-go-dev, quic-go 0.29), built here with
// Debian's Go 1.19 into a temporary directory (never committed, never
// installed), run on CPU 0 with GOMAXPROCS=1.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pinned } from '../servers.js';

const GO = '/usr/lib/go-1.19/bin/go';
const GOPATH = '/usr/share/gocode';
const QUIC_GO = join(GOPATH, 'src/github.com/lucas-clemente/quic-go');
const SOURCE = fileURLToPath(new URL('../../../bench/http3/h3load/main.go', import.meta.url));

export interface H3loadResult {
  calls: number;
  errors: number;
  firstError?: string;
  seconds: number;
  callsPerSec: number;
  clientCpuSec: number;
  bodyBytes: number;
  gomaxprocs: number;
  /** With `trace`: what the client saw on the wire during the measured calls. */
  wire?: { packetsIn: number; bytesIn: number; ackOnlyIn: number; streamFramesIn: number; packetsOut: number; bytesOut: number; ackOnlyOut: number; lost: number; dropped: number };
}

export interface H3load {
  readonly bin: string;
  /** quic-go's version, from Debian's package. */
  readonly version: string;
  cleanup(): void;
}

/** Builds h3load, or explains what is missing. */
export function buildH3load(): H3load {
  return buildQuicGoProgram(SOURCE, 'h3load');
}

/**
 * Builds a Go program over Debian's quic-go (h3load; the tests' HTTP/3 client,
 * test/fixtures/h3grpc) into a temporary directory, or explains what is missing.
 */
export function buildQuicGoProgram(source: string, name: string): H3load {
  if (!existsSync(GO)) throw new Error(`${GO} not found: apt-get install golang-1.19-go`);
  if (!existsSync(QUIC_GO)) throw new Error(`${QUIC_GO} not found: apt-get install golang-github-lucas-clemente-quic-go-dev (bookworm's 0.29, which Go 1.19 builds)`);
  const dir = mkdtempSync(join(tmpdir(), `workd-${name}-`));
  const bin = join(dir, name);
  // GOPATH mode: Debian's Go packages are source trees under /usr/share/gocode; nothing is fetched.
  const r = spawnSync(GO, ['build', '-o', bin, source], {
    env: { ...process.env, GO111MODULE: 'off', GOPATH, GOCACHE: join(dir, 'cache'), GOFLAGS: '', GOPROXY: 'off' },
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`building ${name} failed: ${r.stderr || r.error?.message}`);
  }
  const v = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'golang-github-lucas-clemente-quic-go-dev'], { encoding: 'utf8' });
  return { bin, version: v.stdout.trim() || 'unknown', cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface H3loadRun {
  port: number;
  authority: string;
  connections: number;
  streams: number;
  calls: number;
  warmup: number;
  body: Uint8Array;
  expectBytes: number;
  /** Count packets and frames (quic-go's tracer; costs client CPU, so not for the figures). */
  trace?: boolean;
}

/** The flags h3load runs with (printed with the results). */
export function h3loadArgs(r: H3loadRun): string[] {
  return [
    '-url', `https://127.0.0.1:${r.port}/foo.Bar/Echo`,
    '-authority', r.authority,
    '-c', String(r.connections),
    '-s', String(r.streams),
    '-n', String(r.calls),
    '-warmup', String(r.warmup),
    '-expect-bytes', String(r.expectBytes),
    '-body-hex', Buffer.from(r.body).toString('hex'),
    ...(r.trace ? ['-trace'] : []),
  ];
}

/** One run of h3load on CPU 0 with GOMAXPROCS=1; `serverCpu` (µs) is read when the warm-up ends and when the run does. */
export function runH3load(h: H3load, r: H3loadRun, serverCpu: () => number): Promise<H3loadResult & { serverCpuSec: number }> {
  const p = pinned('0', h.bin, h3loadArgs(r));
  return new Promise((resolve, reject) => {
    const child = spawn(p.cmd, p.argv, { env: { ...process.env, GOMAXPROCS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let cpu0 = -1;
    let cpu1 = -1;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (cpu0 < 0 && out.includes('measuring\n')) cpu0 = serverCpu();
      if (cpu1 < 0 && /\n\{.*\}\n/.test(out)) cpu1 = serverCpu();
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`h3load exited with ${code}: ${err.slice(-2000)}`));
      try {
        const res = JSON.parse(out.trim().split('\n').pop()!) as H3loadResult;
        resolve({ ...res, serverCpuSec: (cpu1 - cpu0) / 1e6 });
      } catch {
        reject(new Error(`h3load printed no result: ${out.slice(-500)} ${err.slice(-500)}`));
      }
    });
  });
}
