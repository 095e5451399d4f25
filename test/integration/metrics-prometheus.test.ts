// A real Prometheus (Debian's) scrapes a real daemon under traffic: the call
// counts it reports are the calls we made, label values stay bounded, and every
// panel of docs/grafana-dashboard.json returns data through its HTTP API.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { connectHttp3 } from '../../src/dataplane/client/http3.js';
import { pushLayout } from '../../src/images/push.js';
import { criClient, runComponent, type CriClient } from '../helpers/cri-client.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { watToWasm } from '../helpers/guests.js';
import { buildTestImage } from '../helpers/images.js';
import { startPrometheus, type Prometheus } from '../helpers/prometheus.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { guestWat, msg, serviceClient, serviceProto, unary } from './dataplane-fixture.js';

const DASHBOARD = fileURLToPath(new URL('../../../docs/grafana-dashboard.json', import.meta.url));
const COMPONENT = 'example.com:demo.Greeter@1.2.3';
const skip = !existsSync('/usr/bin/prometheus') || !registryAvailable() ? 'needs Debian prometheus and docker-registry' : undefined;

describe('Prometheus scraping /metrics under traffic', { skip }, () => {
  let d: TestDaemon;
  let cri: CriClient;
  let reg: TestRegistry;
  let prom: Prometheus;
  let client: grpc.Client & Record<string, Function>;
  let h3: Awaited<ReturnType<typeof connectHttp3>>;
  const sent = { echo: 0, fail: 0, missing: 0, made: 0 };

  before(async () => {
    reg = await startRegistry();
    const img = await buildTestImage({ component: COMPONENT, wasm: await watToWasm(guestWat(COMPONENT), 'metrics-guest.wat'), proto: serviceProto(COMPONENT) });
    const pushed = await pushLayout({ dir: img.dir, reference: `${reg.host}/example.com/demo.greeter` });
    await img.cleanup();
    d = await startDaemon();
    cri = criClient(d.criSocket);
    const { image_ref } = await cri.image.PullImage!({ image: { image: pushed.reference } });
    await runComponent(cri, COMPONENT, image_ref);
    await runComponent(cri, COMPONENT, image_ref);
    const url = new URL(String(d.ready.metricsUrl));
    prom = await startPrometheus([url.host]);
    const creds = grpc.credentials.createSsl(readFileSync(join(d.stateDir, 'tls', 'cert.pem')));
    client = serviceClient(`127.0.0.1:${d.ready.tcpPort}`, 'demo.Greeter', { authority: 'example.com', credentials: creds, options: { 'grpc.ssl_target_name_override': 'localhost' } });
    h3 = await connectHttp3({ address: `127.0.0.1:${d.ready.udpPort}`, authority: 'example.com', insecure: true });
    // Traffic for a few scrapes: successes, a guest error, a declared but unexported method, made-up methods.
    const end = Date.now() + 3000;
    while (Date.now() < end) {
      const batch = await Promise.all([unary(client, 'Echo', msg('hello')), unary(client, 'Echo', msg('x'.repeat(1000))), unary(client, 'Fail', msg(''))]);
      assert.equal(batch[0].err, null);
      sent.echo += 2;
      sent.fail += 1;
      await new Promise((r) => setTimeout(r, 50));
    }
    for (let i = 0; i < 3; i++) {
      await unary(client, 'Missing', msg(''));
      sent.missing++;
    }
    const raw = new grpc.Client(`127.0.0.1:${d.ready.tcpPort}`, creds, { 'grpc.default_authority': 'example.com', 'grpc.ssl_target_name_override': 'localhost' });
    for (let i = 0; i < 40; i++) {
      await new Promise<void>((done) => raw.makeUnaryRequest(`/demo.Greeter/Made${i}`, (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), () => done()));
      sent.made++;
    }
    raw.close();
  });

  after(async () => {
    await h3?.close();
    client?.close();
    await prom?.stop();
    cri?.close();
    await d?.stop();
    await reg?.stop();
  });

  it('reports the calls we made, by method and code', async () => {
    // The last scrape after the traffic: wait until Prometheus holds the final counts.
    const q = (expr: string) => prom.waitFor(expr, 20_000);
    await q(`workd_grpc_calls_total{method="Echo",code="OK"} == ${sent.echo}`);
    await q(`workd_grpc_calls_total{method="Fail",code="FAILED_PRECONDITION"} == ${sent.fail}`);
    await q(`workd_grpc_calls_total{service="demo.Greeter",method="other",code="UNIMPLEMENTED"} == ${sent.missing + sent.made}`);
    const bytes = await q('sum(workd_grpc_request_bytes_total{method="Echo"})');
    assert.ok(Number(bytes[0]!.value[1]) > 1000 * (sent.echo / 2));
    const pulls = await q('workd_image_pulls_total{result="success"}');
    assert.equal(pulls[0]!.value[1], '1');
    await q('workd_image_pull_bytes_total{result="success"} > 0');
    await q('workd_containers{state="CONTAINER_RUNNING"} == 2');
    await q('workd_cri_calls_total{method="PullImage",code="OK"} == 1');
    await q('workd_transport_connections{transport="quic"} >= 1');
    await q('workd_transport_connections{transport="http2"} >= 1');
    // The executor's counters: both containers spent guest CPU; the pool has workers.
    const cpu = await q('workd_container_cpu_seconds_total{service="demo.Greeter"} > 0');
    assert.equal(cpu.length, 2);
    await q('workd_executor_workers >= 1');
    await q('workd_executor_worker_cpu_seconds_total > 0');
  });

  it('keeps label values bounded: made-up methods are one series', async () => {
    const series = await prom.query('count by (method) (workd_grpc_calls_total{service="demo.Greeter"})');
    const methods = series.map((s) => s.metric.method).sort();
    assert.deepEqual(methods, ['Echo', 'Fail', 'other']);
  });

  it('has a dashboard whose every panel query returns data', async () => {
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    assert.ok(dash.panels.length >= 10);
    for (const panel of dash.panels) {
      for (const t of panel.targets) {
        const expr = t.expr.replaceAll('$__rate_interval', '10s');
        const r = await prom.waitFor(expr, 10_000).catch((err: Error) => assert.fail(`panel "${panel.title}": ${err.message}`));
        assert.ok(r.length > 0, panel.title);
      }
    }
  });
});
