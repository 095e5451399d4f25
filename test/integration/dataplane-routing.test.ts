// The data plane through the real daemon: real images, real CRI lifecycle,
// real WebAssembly guests, @grpc/grpc-js clients on the h2c port.
// Components: example.com:foo.Bar@1.2.3, example.com:foo.Bar@1.10.0 (a third
// version of one service) and acme.org:calc.Calc@1.0.0 (a different service).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { criClient, type CriClient } from '../helpers/cri-client.js';
import { importComponentImage, msg, serviceClient, sleep, startComponent, text, unary } from './dataplane-fixture.js';

const BAR_OLD = 'example.com:foo.Bar@1.2.3';
const BAR_NEW = 'example.com:foo.Bar@1.10.0';
const CALC = 'acme.org:calc.Calc@1.0.0';

let d: TestDaemon;
let cri: CriClient;
let address: string;
const clients: grpc.Client[] = [];
let barNewImage: string;
const running = new Map<string, string>();

function bar(authority = 'example.com', options: grpc.ChannelOptions = {}) {
  const c = serviceClient(address, 'foo.Bar', { authority, options });
  clients.push(c);
  return c;
}

before(async () => {
  d = await startDaemon({ args: ['--plaintext'], configToml: '[dataplane]\nmax_message_bytes = 65536\n', logLevel: 'info' });
  cri = criClient(d.criSocket);
  address = `127.0.0.1:${d.ready.tcpPort}`;
  running.set(BAR_OLD, await startComponent(cri, BAR_OLD));
  barNewImage = await importComponentImage(cri, BAR_NEW);
  running.set(BAR_NEW, await startComponent(cri, BAR_NEW, barNewImage));
  running.set(CALC, await startComponent(cri, CALC));
});

after(async () => {
  for (const c of clients) c.close();
  cri?.close();
  await d?.stop();
});

describe('routing', () => {
  test('each authority and service reaches its own component; the highest version serves by default', async () => {
    const r = await unary(bar(), 'Which', msg(''));
    assert.equal(r.err, null);
    assert.equal(text(r.res!), BAR_NEW);
    const calc = serviceClient(address, 'calc.Calc', { authority: 'acme.org:443' });
    clients.push(calc);
    assert.equal(text((await unary(calc, 'Which', msg(''))).res!), CALC);
    const echo = await unary(bar('EXAMPLE.COM'), 'Echo', msg('héllo'));
    assert.equal(text(echo.res!), 'héllo');
  });

  test('workd-version pins an exact version or a semver range', async () => {
    const pin = (v: string) => {
      const md = new grpc.Metadata();
      md.set('workd-version', v);
      return unary(bar(), 'Which', msg(''), md);
    };
    assert.equal(text((await pin('1.2.3')).res!), BAR_OLD);
    assert.equal(text((await pin('~1.2')).res!), BAR_OLD);
    assert.equal(text((await pin('^1.2')).res!), BAR_NEW);
    const none = await pin('^2');
    assert.equal(none.err!.code, grpc.status.UNAVAILABLE);
    assert.match(none.err!.details, /no running version of example\.com:foo\.Bar matches workd-version "\^2" \(running: 1\.10\.0, 1\.2\.3\)/);
    const bad = await pin('one point two');
    assert.equal(bad.err!.code, grpc.status.INVALID_ARGUMENT);
  });

  test('unknown domain, unknown service, unknown method: UNIMPLEMENTED', async () => {
    let r = await unary(bar('nowhere.example'), 'Which', msg(''));
    assert.equal(r.err!.code, grpc.status.UNIMPLEMENTED);
    assert.match(r.err!.details, /unknown service foo\.Bar at nowhere\.example/);
    const wrong = serviceClient(address, 'foo.Nope', { authority: 'example.com' });
    clients.push(wrong);
    r = await unary(wrong, 'Which', msg(''));
    assert.equal(r.err!.code, grpc.status.UNIMPLEMENTED);
    r = await unary(bar(), 'Missing', msg(''));
    assert.equal(r.err!.code, grpc.status.UNIMPLEMENTED);
    assert.match(r.err!.details, /Missing/);
  });

  test('calls keep succeeding while containers start and stop under load, and follow the highest running version', async () => {
    const c = bar();
    let stop = false;
    const seen = new Map<string, number>();
    const failures: string[] = [];
    const workers = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const r = await unary(c, 'Which', msg(''));
        if (r.err) failures.push(`${r.err.code}: ${r.err.details}`);
        else seen.set(text(r.res!), (seen.get(text(r.res!)) ?? 0) + 1);
      }
    });
    await sleep(200);
    // A second container of the newest version joins, then the first one leaves.
    const second = await startComponent(cri, BAR_NEW, barNewImage);
    await sleep(200);
    await cri.runtime.StopContainer!({ container_id: running.get(BAR_NEW), timeout: 5 });
    await sleep(200);
    // The last 1.10.0 container leaves: traffic falls back to 1.2.3 with no failed call.
    const beforeFallback = seen.get(BAR_OLD) ?? 0;
    await cri.runtime.StopContainer!({ container_id: second, timeout: 5 });
    await sleep(300);
    stop = true;
    await Promise.all(workers);
    assert.deepEqual(failures, []);
    assert.ok((seen.get(BAR_NEW) ?? 0) > 0);
    assert.ok((seen.get(BAR_OLD) ?? 0) > beforeFallback, 'calls moved to 1.2.3 once no 1.10.0 container ran');
    // Bring 1.10.0 back for the other tests.
    running.set(BAR_NEW, await startComponent(cri, BAR_NEW, barNewImage));
    assert.equal(text((await unary(c, 'Which', msg(''))).res!), BAR_NEW);
  });

  test('a service whose pods exist but run no container is UNAVAILABLE', async () => {
    const calcId = running.get(CALC)!;
    await cri.runtime.StopContainer!({ container_id: calcId, timeout: 5 });
    const calc = serviceClient(address, 'calc.Calc', { authority: 'acme.org' });
    clients.push(calc);
    const r = await unary(calc, 'Which', msg(''));
    assert.equal(r.err!.code, grpc.status.UNAVAILABLE);
    assert.match(r.err!.details, /acme\.org:calc\.Calc has no running container/);
    running.set(CALC, await startComponent(cri, CALC));
    assert.equal((await unary(calc, 'Which', msg(''))).err, null);
  });

  test("a service whose last pod was removed is UNAVAILABLE, as from a server shutting down (clients retry it), and serves again when a pod comes back", async () => {
    const calcId = running.get(CALC)!;
    const podId = (await cri.runtime.ListContainers!({ filter: { id: calcId } })).containers[0].pod_sandbox_id as string;
    await cri.runtime.StopPodSandbox!({ pod_sandbox_id: podId });
    await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: podId });
    const calc = serviceClient(address, 'calc.Calc', { authority: 'acme.org' });
    clients.push(calc);
    const r = await unary(calc, 'Which', msg(''));
    assert.equal(r.err!.code, grpc.status.UNAVAILABLE);
    assert.match(r.err!.details, /acme\.org:calc\.Calc has no running container/);
    const never = serviceClient(address, 'calc.Calc', { authority: 'never.example' });
    clients.push(never);
    assert.equal((await unary(never, 'Which', msg(''))).err!.code, grpc.status.UNIMPLEMENTED, 'a service the node never had is still UNIMPLEMENTED');
    running.set(CALC, await startComponent(cri, CALC));
    assert.equal((await unary(calc, 'Which', msg(''))).err, null);
  });
});

describe('gRPC semantics through a guest', () => {
  test('a guest status and UTF-8 message reach the client', async () => {
    const r = await unary(bar(), 'Fail', msg(''));
    assert.equal(r.err!.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(r.err!.details, 'nope: ü');
  });

  test('custom metadata reaches the guest and comes back, text and -bin', async () => {
    const md = new grpc.Metadata();
    md.set('x-user', 'alice');
    md.set('x-trace-bin', Buffer.from([0, 255, 1, 254]));
    const r = await unary(bar(), 'Meta', msg(''), md);
    assert.equal(r.err, null);
    assert.deepEqual(r.trailers!.get('x-user-echo'), ['alice']);
    assert.deepEqual(r.trailers!.get('x-trace-bin'), [Buffer.from([0, 255, 1, 254])]);
  });

  test('a deadline stops a spinning guest with DEADLINE_EXCEEDED; the container keeps serving', async () => {
    const r = await unary(bar(), 'Spin', msg(''), new grpc.Metadata(), { deadline: Date.now() + 300 });
    assert.equal(r.err!.code, grpc.status.DEADLINE_EXCEEDED);
    const again = await unary(bar(), 'Echo', msg('still here'));
    assert.equal(text(again.res!), 'still here');
  });

  test('gzip and deflate requests and responses', async () => {
    const big = 'z'.repeat(30_000);
    for (const alg of [1, 2]) {
      const c = bar('example.com', { 'grpc.default_compression_algorithm': alg, 'grpc.workd-test': alg });
      const r = await unary(c, 'Echo', msg(big));
      assert.equal(r.err, null);
      assert.equal(text(r.res!), big);
    }
  });

  test('messages over max_message_bytes are RESOURCE_EXHAUSTED both ways', async () => {
    let r = await unary(bar(), 'Echo', msg('x'.repeat(70_000)));
    assert.equal(r.err!.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(r.err!.details, /larger than the limit of 65536 bytes/);
    r = await unary(bar(), 'Big', msg(''));
    assert.equal(r.err!.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(r.err!.details, /response message of 200000 bytes/);
    assert.equal((await unary(bar(), 'Echo', msg('ok'))).err, null);
  });
});
