// HTTP/3 benchmark: unary gRPC calls over HTTP/3 through workd's data plane,
// as ratios to baselines measured in the same run:
//   workd-h3   the real `workd serve` (TLS): a running WebAssembly echo
//              component created through the CRI, called over HTTP/3
//   workd-h2   the same calls over HTTP/2 (TLS) through the same daemon
//   caddy-h3   Debian's Caddy (quic-go) answering the same small request over HTTP/3
// and, to separate the transport from the executor, the same calls over both
// transports to a data plane serving a JavaScript echo service (plane-h3, plane-h2).
// One load generator shape for all: C connections × S concurrent streams,
// N calls; HTTP/3 load comes from our client, HTTP/2 load from node:http2.
// Then a 10 MiB response over HTTP/3 (and HTTP/2 for reference), in MiB/s.
// Then the same unary calls from a load generator that is not ours: quic-go's
// HTTP/3 client (h3load, quic-go.ts), at each of --shapes (connections x
// streams), against workd-h3, caddy-h3 and plane-h3.
// Servers run in child processes pinned to CPU 1, the load generator to CPU 0.
//
//   npx tsc -p . && npm run bench:http3 [-- --requests 20000 --connections 4 --streams 16 --rounds 2
//                                          --load ours,quic-go --shapes 4x16,16x8]
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Http3Client } from '../../src/dataplane/http3/client.js';
import { encodeMessage } from '../../src/dataplane/grpc/framing.js';
import { echo } from '../../test/fixtures/echo/echo.js';
import { buildH3load, runH3load, h3loadArgs, type H3load, type H3loadRun } from './quic-go.js';
import { hasTaskset, procCpu, spawnOnCpu1, spawnServer, startComponentDaemon, stopChild, type ComponentDaemon } from '../servers.js';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '20000' },
    connections: { type: 'string', default: '4' },
    streams: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' },
    'bulk-rounds': { type: 'string', default: '3' },
    load: { type: 'string', default: 'ours,quic-go' },
    shapes: { type: 'string', default: '4x16,16x8' },
    trace: { type: 'boolean', default: false },
  },
});
const LOADS = new Set(args.load.split(','));
const SHAPES = args.shapes.split(',').map((x) => {
  const [c, s] = x.split('x').map(Number);
  if (!(c! > 0 && s! > 0)) throw new Error(`--shapes: ${x} is not CONNECTIONSxSTREAMS`);
  return { connections: c!, streams: s! };
});
const N = Number(args.requests);
const C = Number(args.connections);
const S = Number(args.streams);
const ROUNDS = Number(args.rounds);
const BULK_ROUNDS = Number(args['bulk-rounds']);
const BULK = 10 * 1024 * 1024;

const ECHO_FRAME = encodeMessage(echo.requestSerialize({ text: 'hello, data plane', blob: Buffer.alloc(32, 0x5a) }));
const GRPC_HEADERS = ['content-type', 'application/grpc', 'te', 'trailers'];

if (hasTaskset) spawnSync('taskset', ['-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });

async function startWorkd(): Promise<{ child: ChildProcess; port: number; cert: string; key: string }> {
  const { child, match } = await spawnServer(process.execPath, [fileURLToPath(new URL('./server-workd.js', import.meta.url))], /ready (\d+) (\S+) (\S+)/);
  return { child, port: Number(match[1]), cert: match[2]!, key: match[3]! };
}

async function freeUdpPort(): Promise<number> {
  const dgram = await import('node:dgram');
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  s.close();
  return port;
}

async function startCaddy(cert: string, key: string, bodyLength: number): Promise<{ child: ChildProcess; port: number; dir: string; caddyfile: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'workd-bench-caddy-'));
  const port = await freeUdpPort();
  // Same size of answer as workd's echo; Caddy's respond takes text only.
  const body = 'x'.repeat(bodyLength);
  const caddyfile = `{
	admin off
	auto_https disable_redirects
	storage file_system ${join(dir, 'data')}
	servers {
		protocols h1 h2 h3
	}
}
https://localhost:${port} {
	tls ${cert} ${key}
	header Content-Type application/grpc
	respond "${body}" 200
}
`;
  writeFileSync(join(dir, 'Caddyfile'), caddyfile);
  // One core, as the other servers get (and said so in the results).
  process.env.GOMAXPROCS = '1';
  const child = spawnOnCpu1('caddy', ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], 'ignore');

  child.stdout!.resume();
  // Ready when it answers over HTTP/3.
  for (let i = 0; i < 100; i++) {
    try {
      const c = await Http3Client.connect({ host: '127.0.0.1', port, servername: 'localhost', idleTimeoutMs: 2000 });
      const r = await c.request({ authority: `localhost:${port}`, path: '/foo.Bar/Echo', headers: GRPC_HEADERS, body: ECHO_FRAME });
      c.close();
      if (r.status === 200) return { child, port, dir, caddyfile };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stopChild(child);
  throw new Error('caddy did not answer over HTTP/3');
}

type OneCall = (conn: number) => Promise<void>;

interface Figure {
  /** Calls per second seen by the load generator. */
  rps: number;
  /** Calls per second of server CPU time (the server's own cost, whatever limits the load generator). */
  perCpuSec: number;
}

/** N calls, C connections × S in flight each; returns calls per second. */
async function drive(n: number, call: OneCall): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const workers: Promise<void>[] = [];
  for (let c = 0; c < C; c++) {
    for (let s = 0; s < S; s++) {
      workers.push(
        (async () => {
          while (next < n) {
            next++;
            await call(c);
          }
        })(),
      );
    }
  }
  await Promise.all(workers);
  return n / ((performance.now() - t0) / 1000);
}

async function measured(pid: number, call: OneCall): Promise<Figure> {
  await drive(Math.min(2000, N), call); // warm-up
  const cpu0 = procCpu(pid);
  const rps = await drive(N, call);
  const cpu = (procCpu(pid) - cpu0) / 1e6;
  return { rps, perCpuSec: cpu > 0 ? N / cpu : Infinity };
}

async function h3Load(pid: number, port: number, authority: string, expectTrailers: boolean): Promise<Figure & { close(): void }> {
  const clients = await Promise.all(Array.from({ length: C }, () => Http3Client.connect({ host: '127.0.0.1', port, servername: 'localhost' })));
  const call: OneCall = async (i) => {
    const r = await clients[i]!.request({ authority, path: '/foo.Bar/Echo', headers: GRPC_HEADERS, body: ECHO_FRAME });
    if (r.status !== 200 || (expectTrailers && r.trailers?.[r.trailers.indexOf('grpc-status') + 1] !== '0')) throw new Error(`bad answer: ${r.status} ${r.trailers}`);
  };
  return { ...(await measured(pid, call)), close: () => clients.forEach((c) => c.close()) };
}

async function h2Load(pid: number, port: number, authority: string): Promise<Figure & { close(): void }> {
  const sessions = await Promise.all(
    Array.from({ length: C }, () => {
      const s = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, servername: 'localhost' });
      return new Promise<http2.ClientHttp2Session>((resolve, reject) => {
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      });
    }),
  );
  const headers = { ':method': 'POST', ':path': '/foo.Bar/Echo', ':authority': authority, 'content-type': 'application/grpc', te: 'trailers' };
  const call: OneCall = (i) =>
    new Promise<void>((resolve, reject) => {
      const req = sessions[i]!.request(headers);
      let status = '';
      req.on('trailers', (t) => (status = String(t['grpc-status'])));
      req.on('data', () => {});
      req.on('error', reject);
      req.on('close', () => (status === '0' ? resolve() : reject(new Error(`grpc-status ${status}`))));
      req.end(ECHO_FRAME);
    });
  return { ...(await measured(pid, call)), close: () => sessions.forEach((s) => s.close()) };
}

async function bulk(port: number, via: 'h3' | 'h2'): Promise<number> {
  const msg = encodeMessage(echo.requestSerialize({ text: `big:${BULK}` }));
  let best = 0;
  if (via === 'h3') {
    const c = await Http3Client.connect({ host: '127.0.0.1', port, servername: 'localhost' });
    for (let i = 0; i < BULK_ROUNDS; i++) {
      const t0 = performance.now();
      const r = await c.request({ authority: 'example.com', path: '/foo.Bar/Echo', headers: GRPC_HEADERS, body: msg });
      const s = (performance.now() - t0) / 1000;
      if (r.body.length < BULK) throw new Error(`short body ${r.body.length}`);
      best = Math.max(best, r.body.length / 1048576 / s);
    }
    c.close();
  } else {
    const s = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, servername: 'localhost' });
    for (let i = 0; i < BULK_ROUNDS; i++) {
      const t0 = performance.now();
      const n = await new Promise<number>((resolve, reject) => {
        const req = s.request({ ':method': 'POST', ':path': '/foo.Bar/Echo', ':authority': 'example.com', 'content-type': 'application/grpc', te: 'trailers' });
        let got = 0;
        req.on('data', (c: Buffer) => (got += c.length));
        req.on('error', reject);
        req.on('close', () => resolve(got));
        req.end(msg);
      });
      const sec = (performance.now() - t0) / 1000;
      best = Math.max(best, n / 1048576 / sec);
    }
    s.close();
  }
  return best;
}

function uptime(): string {
  return spawnSync('uptime', { encoding: 'utf8' }).stdout.trim();
}

/** The response body length of one call (what h3load must see on every answer). */
async function bodyLength(port: number, authority: string): Promise<number> {
  const c = await Http3Client.connect({ host: '127.0.0.1', port, servername: 'localhost' });
  try {
    const r = await c.request({ authority, path: '/foo.Bar/Echo', headers: GRPC_HEADERS, body: ECHO_FRAME });
    if (r.status !== 200 || r.body.length === 0) throw new Error(`no answer from ${authority} (status ${r.status})`);
    return r.body.length;
  } finally {
    c.close();
  }
}

/** The same unary calls from quic-go's HTTP/3 client (h3load), at each shape, best of ROUNDS. */
async function independent(
  daemon: ComponentDaemon,
  plane: { child: ChildProcess; port: number },
  caddy: { child: ChildProcess; port: number; caddyfile: string } | null,
  ratios: (x: Figure, y: Figure) => string,
): Promise<void> {
  let h: H3load;
  try {
    h = buildH3load();
  } catch (err) {
    console.log(`quic-go load generator: not measured (${(err as Error).message})`);
    return;
  }
  try {
    const targets = [
      { name: 'workd-h3', pid: daemon.child.pid!, port: daemon.udpPort, authority: 'example.com' },
      ...(caddy ? [{ name: 'caddy-h3', pid: caddy.child.pid!, port: caddy.port, authority: `localhost:${caddy.port}` }] : []),
      { name: 'plane-h3', pid: plane.child.pid!, port: plane.port, authority: 'example.com' },
    ];
    const expect = new Map<string, number>();
    for (const t of targets) expect.set(t.name, await bodyLength(t.port, t.authority));
    console.log('');
    console.log(`Independent load generator: quic-go ${h.version} (Debian), h3load built with Go 1.19, GOMAXPROCS=1 (Caddy too), ${hasTaskset ? 'taskset -c 0 (servers: taskset -c 1)' : 'not pinned (no taskset)'}, ${N} calls after ${Math.min(2000, N)} warm-up calls per run, best of ${ROUNDS} rounds`);
    const sample: H3loadRun = { port: 0, authority: 'AUTHORITY', connections: 0, streams: 0, calls: N, warmup: Math.min(2000, N), body: ECHO_FRAME, expectBytes: 0 };
    console.log(`  flags: ${h3loadArgs(sample).join(' ').replace(/-body-hex \S+/, `-body-hex <${ECHO_FRAME.length}-byte gRPC echo request>`).replace(/-c 0 -s 0/, '-c C -s S').replace(/-expect-bytes 0/, '-expect-bytes <reply length: ' + [...expect].map(([k, v]) => `${k} ${v}`).join(', ') + '>')}`);
    if (caddy) console.log(`  Caddyfile:\n${caddy.caddyfile.replace(/^/gm, '    ').replace(/x{20,}/, (m) => `<${m.length} x>`)}`);
    for (const shape of SHAPES) {
      const best = new Map<string, Figure>();
      /** Per round: workd-h3 and plane-h3 over caddy-h3 (measured back to back, so under about the same load). */
      const perRound: { w: Figure; p: Figure }[] = [];
      const roundFigures = new Map<string, Figure>();
      const wires = new Map<string, NonNullable<Awaited<ReturnType<typeof runH3load>>['wire']>>();
      for (let round = 1; round <= ROUNDS; round++) {
        const line: string[] = [];
        for (const t of targets) {
          const r = await runH3load(h, { port: t.port, authority: t.authority, connections: shape.connections, streams: shape.streams, calls: N, warmup: Math.min(2000, N), body: ECHO_FRAME, expectBytes: expect.get(t.name)!, trace: args.trace }, () => procCpu(t.pid));
          if (r.errors > 0) throw new Error(`${t.name}: ${r.errors} failed calls, first: ${r.firstError}`);
          if (r.wire) wires.set(t.name, r.wire);
          const f: Figure = { rps: r.callsPerSec, perCpuSec: r.serverCpuSec > 0 ? r.calls / r.serverCpuSec : Infinity };
          roundFigures.set(t.name, f);
          const b = best.get(t.name);
          best.set(t.name, b ? { rps: Math.max(b.rps, f.rps), perCpuSec: Math.max(b.perCpuSec, f.perCpuSec) } : f);
          line.push(`${t.name} ${fmt(f.rps)}/s (${fmt(f.perCpuSec)}/CPU-s, client ${(r.clientCpuSec * 1e6 / r.calls).toFixed(1)} µs CPU/call)`);
        }
        console.log(`  ${shape.connections}x${shape.streams} round ${round}: ${line.join('  ')}`);
        const rc = roundFigures.get('caddy-h3');
        if (rc) {
          const over = (x: Figure): Figure => ({ rps: x.rps / rc.rps, perCpuSec: x.perCpuSec / rc.perCpuSec });
          perRound.push({ w: over(roundFigures.get('workd-h3')!), p: over(roundFigures.get('plane-h3')!) });
        }
        roundFigures.clear();
        for (const [name, w] of wires) {
          const per = (x: number) => (x / N).toFixed(2);
          console.log(`    ${name} per call: packets in ${per(w.packetsIn)} (ACK-only ${per(w.ackOnlyIn)}, STREAM frames ${per(w.streamFramesIn)}), out ${per(w.packetsOut)} (ACK-only ${per(w.ackOnlyOut)}); bytes in ${per(w.bytesIn)} out ${per(w.bytesOut)}; lost ${w.lost} dropped ${w.dropped}`);
        }
        wires.clear();
      }
      const w = best.get('workd-h3')!;
      const p = best.get('plane-h3')!;
      const c = best.get('caddy-h3');
      if (c) {
        const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
        const mr = (k: 'w' | 'p') => `calls/s ${med(perRound.map((r) => r[k].rps)).toFixed(2)}x   per CPU-s ${med(perRound.map((r) => r[k].perCpuSec)).toFixed(2)}x`;
        console.log(`  ${shape.connections}x${shape.streams} workd-h3 / caddy-h3   best of rounds: ${ratios(w, c)}   median of per-round ratios: ${mr('w')}   (target >= 1.0x both)`);
        console.log(`  ${shape.connections}x${shape.streams} plane-h3 / caddy-h3   best of rounds: ${ratios(p, c)}   median of per-round ratios: ${mr('p')}   (the transport alone)`);
      }
    }
  } finally {
    h.cleanup();
  }
}

const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
const workd = await startWorkd();
let daemon: ComponentDaemon | null = null;
let caddy: Awaited<ReturnType<typeof startCaddy>> | null = null;
try {
  daemon = await startComponentDaemon([]);
  if (daemon.udpPort !== daemon.tcpPort) throw new Error(`HTTP/3 is not on the HTTP/2 port (${daemon.udpPort} vs ${daemon.tcpPort})`);
  try {
    caddy = await startCaddy(workd.cert, workd.key, 60);
  } catch (err) {
    console.log(`caddy-h3: not measured (${(err as Error).message}); is Debian's caddy installed?`);
  }
  const zero = (): Figure => ({ rps: 0, perCpuSec: 0 });
  const best = { h3: zero(), h2: zero(), caddy: zero(), planeH3: zero(), planeH2: zero() };
  const keep = (b: Figure, f: Figure) => ({ rps: Math.max(b.rps, f.rps), perCpuSec: Math.max(b.perCpuSec, f.perCpuSec) });
  const show = (f: Figure) => `${fmt(f.rps)}/s (${fmt(f.perCpuSec)}/CPU-s)`;
  const once = async (load: Promise<Figure & { close(): void }>): Promise<Figure> => {
    const f = await load;
    f.close();
    return f;
  };
  const ratio = (x: number, y: number) => `${(x / y).toFixed(2)}x`;
  const ratios = (x: Figure, y: Figure) => `calls/s ${ratio(x.rps, y.rps)}   per CPU-s ${ratio(x.perCpuSec, y.perCpuSec)}`;
  console.log(`load: ${uptime()}`);
  if (LOADS.has('ours')) {
    console.log(`HTTP/3 bench: ${fmt(N)} unary calls, ${C} connections x ${S} streams, best of ${ROUNDS} rounds${hasTaskset ? ', servers on CPU 1, load on CPU 0' : ''}`);
    for (let round = 1; round <= ROUNDS; round++) {
      const a = await once(h3Load(daemon.child.pid!, daemon.udpPort, 'example.com', true));
      const b = await once(h2Load(daemon.child.pid!, daemon.udpPort, 'example.com'));
      const c = caddy ? await once(h3Load(caddy.child.pid!, caddy.port, `localhost:${caddy.port}`, false)) : zero();
      const d = await once(h3Load(workd.child.pid!, workd.port, 'example.com', true));
      const e = await once(h2Load(workd.child.pid!, workd.port, 'example.com'));
      console.log(`  round ${round}: workd-h3 ${show(a)}  workd-h2 ${show(b)}  caddy-h3 ${caddy ? show(c) : '-'}  plane-h3 ${show(d)}  plane-h2 ${show(e)}`);
      best.h3 = keep(best.h3, a);
      best.h2 = keep(best.h2, b);
      best.caddy = keep(best.caddy, c);
      best.planeH3 = keep(best.planeH3, d);
      best.planeH2 = keep(best.planeH2, e);
    }
    const mib3 = await bulk(workd.port, 'h3');
    const mib2 = await bulk(workd.port, 'h2');
    console.log('');
    console.log('A running WebAssembly component (the real daemon, executor included):');
    console.log(`  unary calls/s (load generator)  workd-h3 ${fmt(best.h3.rps)}  workd-h2 ${fmt(best.h2.rps)}  caddy-h3 ${caddy ? fmt(best.caddy.rps) : '-'}`);
    console.log(`  unary calls per server CPU-s    workd-h3 ${fmt(best.h3.perCpuSec)}  workd-h2 ${fmt(best.h2.perCpuSec)}  caddy-h3 ${caddy ? fmt(best.caddy.perCpuSec) : '-'}`);
    console.log(`  ratio workd-h3 / workd-h2   ${ratios(best.h3, best.h2)}   (target >= 0.8x)`);
    if (caddy) console.log(`  ratio workd-h3 / caddy-h3   ${ratios(best.h3, best.caddy)}   (target >= 1.0x; Caddy answers a fixed body, no service behind it)`);
    console.log('The transport alone (a data plane with a JavaScript echo service, no executor):');
    console.log(`  ratio plane-h3 / plane-h2   ${ratios(best.planeH3, best.planeH2)}`);
    if (caddy) console.log(`  ratio plane-h3 / caddy-h3   ${ratios(best.planeH3, best.caddy)}`);
    console.log(`10 MiB response (JavaScript echo)  h3 ${mib3.toFixed(1)} MiB/s   h2 ${mib2.toFixed(1)} MiB/s   ratio ${(mib3 / mib2).toFixed(2)}x   (target h3 >= 50 MiB/s)`);
  }
  if (LOADS.has('quic-go')) await independent(daemon, workd, caddy, ratios);
  console.log(`load: ${uptime()}`);
} finally {
  await stopChild(workd.child);
  if (daemon) {
    await daemon.stop();
  }
  if (caddy) {
    await stopChild(caddy.child);
    rmSync(caddy.dir, { recursive: true, force: true });
  }
}
