// `workd dev` as an author uses it: start it on a .wasm + .proto, call it with a
// real gRPC client (grpc-js), see each call printed with the guest's log lines,
// change the module and see it reload, break it and see StartContainer's message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { watToWasm } from '../helpers/guests.js';
import { WORKD_BIN } from '../helpers/daemon.js';

const PROTO = 'syntax = "proto3";\npackage greet;\nservice Greeter {\n  rpc Hello(Name) returns (Name);\n}\nmessage Name { string name = 1; }\n';
/** Answers with a fixed Name{name: word} and logs a line. */
const guest = (word: string) => `(module
  (import "workd" "respond" (func $respond (param i32 i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\\0a\\${word.length.toString(16).padStart(2, '0')}${word}")
  (data (i32.const 64) "said ${word}\\n")
  (func (export "workd_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "Hello") (param i32 i32) (result i32)
    (i32.store (i32.const 128) (i32.const 64)) (i32.store (i32.const 132) (i32.const ${6 + word.length}))
    (drop (call $write (i32.const 1) (i32.const 128) (i32.const 1) (i32.const 136)))
    (call $respond (i32.const 0) (i32.const ${2 + word.length}))
    (i32.const 0)))`;

function hello(client: grpc.Client): Promise<{ err: grpc.ServiceError | null; name?: string }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest('/greet.Greeter/Hello', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, b) =>
      resolve({ err, name: b ? b.subarray(2).toString() : undefined }),
    );
  });
}

test('workd dev serves a .wasm, prints calls with their log lines, reloads on change, reports a broken module', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'workd-dev-test-'));
  const wasm = join(dir, 'greeter.wasm');
  writeFileSync(join(dir, 'greet.proto'), PROTO);
  writeFileSync(wasm, await watToWasm(guest('hi')));
  const p = spawn(process.execPath, [WORKD_BIN, 'dev', '--wasm', wasm, '--proto', join(dir, 'greet.proto'), '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  p.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  let client: grpc.Client | undefined;
  t.after(() => {
    client?.close();
    p.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });
  const waitFor = async (re: RegExp, from = 0, ms = 15_000) => {
    for (const until = Date.now() + ms; Date.now() < until; ) {
      const m = re.exec(out.slice(from));
      if (m) return m;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.fail(`no ${re} in:\n${out}`);
  };

  const serving = await waitFor(/serving localhost:greet\.Greeter@0\.0\.0 on 127\.0\.0\.1:(\d+) \(cleartext HTTP\/2\); methods: Hello/);
  assert.match(out, /npx workd call --plaintext --authority localhost 127\.0\.0\.1:\d+ greet\.Greeter\/Hello -d '\{\}'/, 'prints how to call it');
  client = new grpc.Client(`127.0.0.1:${serving[1]}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'localhost' });
  const first = await hello(client);
  assert.equal(first.err, null);
  assert.equal(first.name, 'hi');
  await waitFor(/\d\d:\d\d:\d\d\.\d{3} greet\.Greeter\/Hello OK \d+\.\d ms\n {4}\| said hi\n/);

  // A new build of the module: served without a restart.
  let mark = out.length;
  const changedAt = performance.now();
  writeFileSync(wasm, await watToWasm(guest('hello')));
  await waitFor(/changed: reloaded localhost:greet\.Greeter@0\.0\.0; methods: Hello/, mark);
  const reloadMs = performance.now() - changedAt;
  t.diagnostic(`reloaded ${reloadMs.toFixed(0)} ms after the write (polled every 200 ms)`);
  const second = await hello(client);
  assert.equal(second.name, 'hello');

  // A broken build: StartContainer's message, and the previous module keeps serving.
  mark = out.length;
  writeFileSync(wasm, await watToWasm('(module (memory (export "memory") 1) (func (export "Hello") (param i32 i32) (result i32) i32.const 0))'));
  await waitFor(/changed: the module does not load: the module does not follow guest ABI v1: the module does not export the function workd_alloc\n {2}still serving the previous module/, mark);
  assert.equal((await hello(client)).name, 'hello');

  // An unknown method is printed too.
  mark = out.length;
  await new Promise<void>((resolve) => client!.makeUnaryRequest('/greet.Greeter/Bye', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), () => resolve()));
  await waitFor(/greet\.Greeter\/Bye UNIMPLEMENTED [\d.]+ ms {2}unknown method Bye/, mark);
});
