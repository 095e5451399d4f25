// Logs for machines: every JSON line has one `msg`, and a subsystem's level can be raised while the daemon runs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { criClient, criError, type CriClient } from '../helpers/cri-client.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

describe('daemon logs and run-time log levels', () => {
  let d: TestDaemon;
  let cri: CriClient;
  before(async () => {
    d = await startDaemon({ logLevel: 'info' });
    cri = criClient(d.criSocket);
  });
  after(async () => {
    cri.close();
    await d.stop();
  });

  it('gives a refused CRI call one msg, with the reason in its own field', async () => {
    await criError(cri.runtime.ContainerStatus!({ container_id: 'f'.repeat(64) }));
    const rec = await d.waitForLog((r) => r.msg === 'cri call refused');
    assert.equal(rec.code, 'NOT_FOUND');
    assert.match(String(rec.reason), /not found/);
    assert.equal(rec.subsystem, 'cri');
    const lines = d.logs().split('\n').filter((l) => l.startsWith('{'));
    assert.ok(lines.length > 3);
    for (const line of lines) assert.equal(line.match(/"msg":/g)?.length, 1, `one msg in: ${line}`);
  });

  it('raises the cri subsystem to debug at run time, without a restart', async () => {
    const url = new URL(String(d.ready.metricsUrl));
    const levels = `${url.origin}/debug/log-levels`;
    await cri.runtime.Version!({});
    assert.equal(d.logRecords().filter((r) => r.msg === 'cri call').length, 0);

    const bad = await fetch(`${levels}?subsystem=crii&level=debug`, { method: 'PUT' });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /unknown log subsystem "crii".*cri/);

    const res = await fetch(`${levels}?subsystem=cri&level=debug`, { method: 'PUT' });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as Record<string, string>).cri, 'debug');
    await cri.runtime.Version!({});
    const rec = await d.waitForLog((r) => r.msg === 'cri call' && r.rpc === 'runtime.v1.RuntimeService/Version');
    assert.equal(rec.level, 'debug');
    assert.equal(rec.subsystem, 'cri');

    await fetch(`${levels}?subsystem=*&level=info`, { method: 'PUT' });
    const n = d.logRecords().filter((r) => r.msg === 'cri call').length;
    await cri.runtime.Version!({});
    await new Promise((done) => setTimeout(done, 200));
    assert.equal(d.logRecords().filter((r) => r.msg === 'cri call').length, n);
  });

  it('counts CRI calls by method and code on /metrics', async () => {
    const text = await (await fetch(String(d.ready.metricsUrl))).text();
    assert.match(text, /^workd_cri_calls_total\{method="Version",code="OK"\} [1-9]/m);
    assert.match(text, /^workd_cri_calls_total\{method="ContainerStatus",code="NOT_FOUND"\} 1$/m);
    assert.match(text, /^workd_cri_call_duration_seconds_count\{method="Version"\} [1-9]/m);
  });
});
