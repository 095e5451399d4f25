// Exec, ExecSync, Attach and PortForward through the real daemon's CRI socket,
// with the streaming URLs driven by a WebSocket client (ws) and an SPDY client,
// the exec probe sequence the kubelet's prober sends, and port-forward tunnels
// that each reach their own pod's container.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Code } from '../../src/errors.js';
import { connectHttp2 } from '../../src/dataplane/client/http2.js';
import { callJson } from '../../src/dataplane/client/json-call.js';
import { SpdyConnection } from '../../src/streaming/spdy/connection.js';
import { criClient, criError, importImage, runComponent, type CriClient } from '../helpers/cri-client.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { watToWasm } from '../helpers/guests.js';
import { buildTestImage } from '../helpers/images.js';
import { spdyExec, upgrade, wsExec } from '../helpers/streaming-clients.js';
import { createServer, type AddressInfo } from 'node:net';

const COMPONENT = 'example.com:demo.Talker@1.0.0';

// Say: writes to stdout and stderr, answers the request. Spin: loops until stopped.
const WAT = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "workd" "respond" (func $respond (param i32 i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 8192))
  (data (i32.const 16) "said hello\\n")
  (data (i32.const 48) "a warning\\n")
  (func (export "workd_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (local.get $p) (local.get $n)))
    (local.get $p))
  (func $write (param $fd i32) (param $p i32) (param $n i32)
    (i32.store (i32.const 128) (local.get $p))
    (i32.store (i32.const 132) (local.get $n))
    (drop (call $fd_write (local.get $fd) (i32.const 128) (i32.const 1) (i32.const 136))))
  (func (export "Say") (param $p i32) (param $n i32) (result i32)
    (call $write (i32.const 1) (i32.const 16) (i32.const 11))
    (call $write (i32.const 2) (i32.const 48) (i32.const 10))
    (call $respond (local.get $p) (local.get $n))
    (i32.const 0))
  (func (export "Spin") (param i32 i32) (result i32)
    (loop $l (br $l))
    (i32.const 0))
)`;

const PROTO = `syntax = "proto3";
package demo;
message Msg { string text = 1; }
service Talker {
  rpc Say(Msg) returns (Msg);
  rpc Spin(Msg) returns (Msg);
}
`;

/** A local TCP listener forwarding each accepted connection through its own port-forward stream pair (as kubectl does). */
async function localTunnel(url: string): Promise<{ port: number; close(): void }> {
  const { socket, head } = await upgrade(url, { 'X-Stream-Protocol-Version': 'portforward.k8s.io' });
  const conn = new SpdyConnection(socket, { server: false }, head);
  let requestId = 0;
  const server = createServer((local) => {
    const id = String(requestId++);
    const h = (type: string) => new Map([['streamtype', [type]], ['port', ['8443']], ['requestid', [id]]]);
    conn.openStream(h('error')).end();
    const data = conn.openStream(h('data'));
    local.pipe(data);
    data.pipe(local);
    local.on('close', () => data.destroy());
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { port: (server.address() as AddressInfo).port, close: () => (server.close(), conn.close()) };
}

describe('streaming through the CRI', () => {
  let d: TestDaemon;
  let cri: CriClient;
  let a: string;
  let b: string;
  let podA: string;
  let podB: string;

  before(async () => {
    d = await startDaemon();
    cri = criClient(d.criSocket);
    const img = await buildTestImage({ component: COMPONENT, wasm: await watToWasm(WAT, 'talker.wat'), proto: PROTO });
    const image = await importImage(cri, img.dir);
    await img.cleanup();
    a = await runComponent(cri, COMPONENT, image);
    b = await runComponent(cri, COMPONENT, image);
    const list = await cri.runtime.ListContainers!({});
    podA = list.containers.find((c: { id: string }) => c.id === a).pod_sandbox_id;
    podB = list.containers.find((c: { id: string }) => c.id === b).pod_sandbox_id;
  });
  after(async () => {
    cri.close();
    await d.stop();
  });

  it('answers the exec probe sequence: health, methods, env, call, unknown commands, timeout', async () => {
    const run = (cmd: string[], timeout = 5) => cri.runtime.ExecSync!({ container_id: a, cmd, timeout });
    const health = await run(['health']);
    assert.equal(health.exit_code, 0);
    assert.equal(Buffer.from(health.stdout).toString(), 'serving\n');
    const methods = await run(['methods']);
    assert.equal(Buffer.from(methods.stdout).toString(), '/demo.Talker/Say\n/demo.Talker/Spin\n');
    const call = await run(['call', 'Say', '{"text":"hi"}']);
    assert.equal(call.exit_code, 0, Buffer.from(call.stderr).toString());
    assert.deepEqual(JSON.parse(Buffer.from(call.stdout).toString()), { text: 'hi' });
    const bad = await run(['call', 'Say', '{"nope":1}']);
    assert.equal(bad.exit_code, 1);
    assert.match(Buffer.from(bad.stderr).toString(), /INVALID_ARGUMENT: request data does not fit demo\.Msg/);
    const sh = await run(['sh', '-c', 'true']);
    assert.equal(sh.exit_code, 127);
    assert.match(Buffer.from(sh.stderr).toString(), /"sh": command not found.*health.*methods.*calls.*call METHOD.*env/s);
    const t0 = Date.now();
    const slow = await criError(cri.runtime.ExecSync!({ container_id: a, cmd: ['call', 'Spin', '{}'], timeout: 1 }));
    assert.equal(slow.code, Code.DEADLINE_EXCEEDED);
    assert.match(slow.details, /timed out after 1s/);
    assert.ok(Date.now() - t0 < 4000);
  });

  it('runs exec over SPDY v4 and WebSocket v5, with exit codes in the status', async () => {
    const url = async (cmd: string[]) => (await cri.runtime.Exec!({ container_id: a, cmd, stdout: true, stderr: true })).url as string;
    const viaSpdy = await spdyExec(await url(['env']));
    assert.match(viaSpdy.stdout, /^PATH=|\n?/);
    assert.deepEqual(JSON.parse(viaSpdy.error), { metadata: {}, status: 'Success' });
    const viaWs = await wsExec(await url(['calls']));
    assert.equal(viaWs.stdout, '0\n');
    const missing = await wsExec(await url(['ls']));
    assert.equal(JSON.parse(missing.error).details.causes[0].message, '127');
    const stdinUrl = (await cri.runtime.Exec!({ container_id: a, cmd: ['call', 'demo.Talker/Say'], stdin: true, stdout: true, stderr: true })).url;
    assert.deepEqual(JSON.parse((await spdyExec(stdinUrl, { stdin: '{"text":"from stdin"}' })).stdout), { text: 'from stdin' });
    const e = await criError(cri.runtime.Exec!({ container_id: a, cmd: ['health'], tty: true, stdout: true, stderr: true }));
    assert.equal(e.code, Code.INVALID_ARGUMENT);
  });

  it('attaches several clients at once to live output, and refuses stdin and tty clearly', async () => {
    const url = async () => (await cri.runtime.Attach!({ container_id: a, stdout: true, stderr: true })).url as string;
    const seen = { spdy: '', ws: '' };
    const one = spdyExec(await url(), { closeAfterMs: 8000, onStdout: (t) => (seen.spdy += t) });
    const two = wsExec(await url(), { closeAfterMs: 8000, onStdout: (t) => (seen.ws += t) });
    // Calls through the data plane's pinned path (exec call) write output as they run; go on until both clients saw two.
    const lines = (t: string) => t.split('said hello\n').length - 1;
    for (let i = 0; i < 60 && (lines(seen.spdy) < 2 || lines(seen.ws) < 2); i++) {
      const r = await cri.runtime.ExecSync!({ container_id: a, cmd: ['call', 'Say', '{}'], timeout: 5 });
      assert.equal(r.exit_code, 0);
      await new Promise((res) => setTimeout(res, 100));
    }
    const [x, y] = await Promise.all([one, two]);
    for (const r of [x, y]) {
      assert.match(r.stdout, /^(said hello\n){2,}$/);
      assert.match(r.stderr, /^(a warning\n){2,}$/);
    }
    const e = await criError(cri.runtime.Attach!({ container_id: a, stdin: true, stdout: true }));
    assert.equal(e.code, Code.INVALID_ARGUMENT);
    assert.match(e.details, /reads no stdin and has no terminal/);
  });

  it('port-forwards each pod to its own container: a call held in one tunnel shows in that container only', async () => {
    const calls = async (id: string) => Buffer.from((await cri.runtime.ExecSync!({ container_id: id, cmd: ['calls'], timeout: 5 })).stdout).toString().trim();
    for (const [pod, mine, other] of [[podA, a, b], [podB, b, a]] as const) {
      const { url } = await cri.runtime.PortForward!({ pod_sandbox_id: pod, port: [8443] });
      const tunnel = await localTunnel(url);
      const t = await connectHttp2({ address: `127.0.0.1:${tunnel.port}`, authority: 'localhost', plaintext: true });
      try {
        // Reflection and a unary call over the tunnel, as `workd call --plaintext localhost:PORT` does.
        const r = await callJson(t, 'demo.Talker/Say', '{"text":"through the tunnel"}');
        assert.equal(r.status, 0, r.message);
        assert.deepEqual(r.answers, [{ text: 'through the tunnel' }]);
        const spin = t.call('/demo.Talker/Spin', [new Uint8Array(0)], { timeoutMs: 1500 });
        await new Promise((res) => setTimeout(res, 400));
        assert.equal(await calls(mine), '1');
        assert.equal(await calls(other), '0');
        // Stopped by its deadline or by the per-call CPU limit, whichever comes first.
        assert.ok(([Code.DEADLINE_EXCEEDED, Code.RESOURCE_EXHAUSTED] as number[]).includes((await spin).status));
      } finally {
        await t.close();
        tunnel.close();
      }
    }
  });

  it('says health is failing once the container stopped', async () => {
    await cri.runtime.StopContainer!({ container_id: b, timeout: 1 });
    const r = await cri.runtime.ExecSync!({ container_id: b, cmd: ['health'], timeout: 5 });
    assert.equal(r.exit_code, 1);
    assert.match(Buffer.from(r.stderr).toString(), /not serving: container .* is CONTAINER_EXITED/);
    const e = await criError(cri.runtime.Exec!({ container_id: b, cmd: ['health'], stdout: true }));
    assert.equal(e.code, Code.FAILED_PRECONDITION);
  });
});
