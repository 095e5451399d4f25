// Takes docs/images/prometheus-calls.png: a real daemon with two replicas of a
// component under 40 s of changing traffic, scraped by Debian's Prometheus, and
// Prometheus's own graph page of the calls per second by method and code,
// rendered by headless Chromium. Run after `npm run build`: npm run screenshot:metrics
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';

const dist = new URL('../dist/test/', import.meta.url).pathname;
const { startDaemon } = await import(`${dist}helpers/daemon.js`);
const { criClient, importImage, runComponent } = await import(`${dist}helpers/cri-client.js`);
const { buildTestImage } = await import(`${dist}helpers/images.js`);
const { watToWasm } = await import(`${dist}helpers/guests.js`);
const { startPrometheus } = await import(`${dist}helpers/prometheus.js`);
const { guestWat, msg, serviceClient, serviceProto, unary } = await import(`${dist}integration/dataplane-fixture.js`);

const COMPONENT = 'example.com:demo.Greeter@1.2.3';
const out = new URL('../docs/images/prometheus-calls.png', import.meta.url).pathname;
const d = await startDaemon({ logLevel: 'warn' });
const cri = criClient(d.criSocket);
const prom = await startPrometheus([new URL(String(d.ready.metricsUrl)).host]);
try {
  const img = await buildTestImage({ component: COMPONENT, wasm: await watToWasm(guestWat(COMPONENT), 'guest.wat'), proto: serviceProto(COMPONENT) });
  const image = await importImage(cri, img.dir);
  await img.cleanup();
  await runComponent(cri, COMPONENT, image);
  await runComponent(cri, COMPONENT, image);
  const creds = grpc.credentials.createSsl(readFileSync(join(d.stateDir, 'tls', 'cert.pem')));
  const client = serviceClient(`127.0.0.1:${d.ready.tcpPort}`, 'demo.Greeter', { authority: 'example.com', credentials: creds, options: { 'grpc.ssl_target_name_override': 'localhost' } });
  const start = Date.now();
  while (Date.now() - start < 40_000) {
    const t = (Date.now() - start) / 1000;
    const echoes = 4 + Math.round(4 * Math.sin(t / 4));
    await Promise.all([...Array(echoes)].map(() => unary(client, 'Echo', msg('hello'))));
    if (t > 10) await unary(client, 'Fail', msg(''));
    if (t > 25) await unary(client, 'Which', msg(''));
    await new Promise((r) => setTimeout(r, 40));
  }
  client.close();
  await new Promise((r) => setTimeout(r, 2000));
  const expr = 'sum by (method, code) (rate(workd_grpc_calls_total[5s]))';
  const page = `${prom.url}/graph?g0.expr=${encodeURIComponent(expr)}&g0.tab=0&g0.range_input=1m`;
  const profile = mkdtempSync(join(tmpdir(), 'workd-chromium-'));
  mkdirSync(new URL('../docs/images/', import.meta.url).pathname, { recursive: true });
  execFileSync('chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--hide-scrollbars',
    '--window-size=1280,900', '--virtual-time-budget=8000', `--screenshot=${out}`, page,
  ], { stdio: 'inherit' });
  rmSync(profile, { recursive: true, force: true });
  console.log(`wrote ${out}`);
} finally {
  await prom.stop();
  cri.close();
  await d.stop();
}
