// workd/testing (src/testing): a component in-process, from a .wasm + .proto or an image
// layout; results carry status, message, trailers and log lines; a module that does not
// load is refused with StartContainer's message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watToWasm } from '../helpers/guests.js';
import { buildTestImage } from '../helpers/images.js';
import { loadComponent } from '../../src/testing/index.js';

const PROTO = 'syntax = "proto3";\npackage shop;\nservice Cart {\n  rpc Find(Item) returns (Item);\n}\nmessage Item { string sku = 1; }\n';
const GUEST = `(module
  (import "workd" "respond" (func $respond (param i32 i32)))
  (import "workd" "status_message" (func $message (param i32 i32)))
  (import "workd" "metadata_get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "workd" "metadata_set" (func $set (param i32 i32 i32 i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "no such sku")
  (data (i32.const 16) "x-user")
  (data (i32.const 32) "looking\\n")
  (func (export "workd_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "Find") (param i32 i32) (result i32) (local $n i32)
    (i32.store (i32.const 48) (i32.const 32)) (i32.store (i32.const 52) (i32.const 8))
    (drop (call $write (i32.const 2) (i32.const 48) (i32.const 1) (i32.const 56)))
    (local.set $n (call $get (i32.const 16) (i32.const 6) (i32.const 200) (i32.const 64)))
    (if (i32.gt_s (local.get $n) (i32.const 0)) (then
      (call $set (i32.const 16) (i32.const 6) (i32.const 200) (local.get $n))
      (call $respond (local.get 0) (local.get 1))
      (return (i32.const 0))))
    (call $message (i32.const 0) (i32.const 11))
    (i32.const 5)))`;

const dir = mkdtempSync(join(tmpdir(), 'workd-testing-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const proto = join(dir, 'cart.proto');
writeFileSync(proto, PROTO);

test('a .wasm with its .proto: JSON in, status, message, trailers and log lines out', async (t) => {
  const c = await loadComponent({ wasm: await watToWasm(GUEST), proto: [proto] });
  t.after(() => c.close());
  assert.equal(c.component, 'localhost:shop.Cart@0.0.0');
  assert.deepEqual(c.methods, ['Find']);
  const miss = await c.call('Find', { sku: 'a1' });
  assert.deepEqual([miss.status, miss.code, miss.message, miss.json], [5, 'NOT_FOUND', 'no such sku', undefined]);
  assert.deepEqual(miss.logs, [{ stream: 'stderr', text: 'looking', full: true }]);
  const hit = await c.call('Find', { sku: 'a1' }, { metadata: { 'x-user': 'ann' } });
  assert.equal(hit.code, 'OK');
  assert.deepEqual(hit.json, { sku: 'a1' });
  assert.deepEqual(hit.trailers, { 'x-user': 'ann' });
  await assert.rejects(c.call('Lose', {}), /service shop\.Cart has no rpc Lose \(it has Find\)/);
  await assert.rejects(c.call('Find', { nope: 1 }), /the request does not fit shop\.Item/);
});

test('an image layout loads with its own component name', async (t) => {
  const img = await buildTestImage({ component: 'example.com:shop.Cart@2.1.0', wasm: await watToWasm(GUEST), proto: PROTO });
  t.after(() => img.cleanup());
  const c = await loadComponent({ image: img.dir });
  t.after(() => c.close());
  assert.equal(c.component, 'example.com:shop.Cart@2.1.0');
  assert.equal((await c.call('Find', {}, { metadata: { 'x-user': 'bo' } })).code, 'OK');
});

test('a module that does not load is refused with the node\'s message', async () => {
  const noAlloc = await watToWasm('(module (memory (export "memory") 1) (func (export "Find") (param i32 i32) (result i32) i32.const 0))');
  await assert.rejects(loadComponent({ wasm: noAlloc, proto: [proto] }), /the module does not follow guest ABI v1: the module does not export the function workd_alloc/);
  const trapsAtInit = await watToWasm('(module (memory (export "memory") 1) (func (export "workd_alloc") (param i32) (result i32) i32.const 0) (func (export "Find") (param i32 i32) (result i32) i32.const 0) (func (export "_initialize") unreachable))');
  await assert.rejects(loadComponent({ wasm: trapsAtInit, proto: [proto] }), /initialisation failed: unreachable/);
});
