// The node tools as an author uses them against a running daemon: `workd call`
// (-v, --version as a call option, the exit status rule), the daemon's log of
// failed calls, and the CLI finding the CRI socket without --cri-socket.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { watToWasm } from '../helpers/guests.js';
import { WORKD_BIN, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { buildTestImage, type TestImage } from '../helpers/images.js';
import { criClient, importImage, runComponent, type CriClient } from '../helpers/cri-client.js';

const COMPONENT = 'example.com:shop.Cart@1.0.0';
const PROTO = 'syntax = "proto3";\npackage shop;\nservice Cart {\n  rpc AddItem(Item) returns (Item);\n  rpc Find(Item) returns (Item);\n}\nmessage Item { string sku = 1; }\n';
const GUEST = `(module
  (import "workd" "respond" (func $respond (param i32 i32)))
  (import "workd" "status_message" (func $message (param i32 i32)))
  (import "workd" "metadata_set" (func $trailer (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "no such sku")
  (data (i32.const 16) "x-cart")
  (data (i32.const 32) "cart-1")
  (func (export "workd_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "AddItem") (param i32 i32) (result i32)
    (call $trailer (i32.const 16) (i32.const 6) (i32.const 32) (i32.const 6))
    (call $respond (local.get 0) (local.get 1))
    (i32.const 0))
  (func (export "Find") (param i32 i32) (result i32)
    (call $trailer (i32.const 16) (i32.const 6) (i32.const 32) (i32.const 6))
    (call $message (i32.const 0) (i32.const 11))
    (i32.const 5)))`;

let d: TestDaemon;
let cri: CriClient;
let img: TestImage;
let containerId: string;

before(async () => {
  d = await startDaemon({ args: ['--plaintext'], logLevel: 'info' });
  cri = criClient(d.criSocket);
  img = await buildTestImage({ component: COMPONENT, wasm: await watToWasm(GUEST), proto: PROTO });
  containerId = await runComponent(cri, COMPONENT, await importImage(cri, img.dir));
});
after(async () => {
  cri?.close();
  await d?.stop();
  await img?.cleanup();
});

function workd(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [WORKD_BIN, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    p.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
const call = (...args: string[]) => workd(['call', '--plaintext', '--authority', 'example.com', `127.0.0.1:${d.ready.tcpPort}`, ...args]);

test('workd call -v prints the response headers and trailers; OK exits 0', async () => {
  const r = await call('-v', '-d', '{"sku":"abc"}', 'shop.Cart/AddItem');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { sku: 'abc' });
  assert.match(r.stderr, /Response headers received:\n(  .*\n)*  content-type: application\/grpc/);
  assert.match(r.stderr, /Response trailers received:\n(  .*\n)*  x-cart: cart-1/);
  assert.match(r.stderr, /  grpc-status: 0/);
});

test('a failed call exits 64 + its status, and the daemon logs it with container, method and status', async () => {
  const r = await call('-v', 'shop.Cart/Find');
  assert.equal(r.status, 64 + 5);
  assert.match(r.stderr, /Code: NOT_FOUND\n  Message: no such sku/);
  assert.match(r.stderr, /x-cart: cart-1/, 'trailers of a failed call too');
  const line = await d.waitForLog((l) => l.msg === 'call failed' && l.method === 'Find');
  assert.equal(line.container, containerId);
  assert.equal(line.status, 'NOT_FOUND');
  assert.equal(line.component, 'example.com:shop.Cart');
  assert.equal(line.grpcMessage, 'no such sku');
});

test('--version after call is the call\'s version pin, not the program\'s --version', async () => {
  const pinned = await call('--version', '1.0.0', '-d', '{"sku":"x"}', 'shop.Cart/AddItem');
  assert.equal(pinned.status, 0, pinned.stderr);
  assert.deepEqual(JSON.parse(pinned.stdout), { sku: 'x' });
  const other = await call('--version', '2.0.0', 'shop.Cart/AddItem');
  assert.equal(other.status, 64 + 14, other.stderr);
  assert.match(other.stderr, /no running version of example\.com:shop\.Cart matches workd-version "2\.0\.0" \(running: 1\.0\.0\)/);
  assert.match((await workd(['call', '--help'])).stdout, /64 \+ N {4}the call failed with gRPC status N/);
});

test('the image commands find the socket from $WORKD_CRI_SOCKET without --cri-socket', async () => {
  const ls = await workd(['image', 'ls'], { WORKD_CRI_SOCKET: d.criSocket });
  assert.equal(ls.status, 0, ls.stderr);
  assert.match(ls.stdout, /example\.com:shop\.Cart@1\.0\.0/);
  const none = await workd(['image', 'ls'], { WORKD_CRI_SOCKET: `${d.criSocket}.absent` });
  assert.equal(none.status, 1);
  assert.match(none.stderr, /cannot reach the workd CRI socket .*\.absent \(is `workd serve` running\? give its socket with --cri-socket or \$WORKD_CRI_SOCKET\)/);
});
