// `workd image build` refuses what the node refuses at start, with the node's
// own message: one validator (src/wasm/validate.ts) behind both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watToWasm } from '../helpers/guests.js';
import { testExecutor } from '../helpers/executor.js';
import { WORKD_BIN, startDaemon } from '../helpers/daemon.js';
import { buildTestImage } from '../helpers/images.js';
import { criClient, importImage, runComponent } from '../helpers/cri-client.js';
import { checkComponent } from '../../src/cli/component.js';
import { compileProtoFilesToBinary } from '../../src/images/proto-compile.js';
import { WorkdError } from '../../src/errors.js';

const COMPONENT = 'example.com:shop.Cart@1.0.0';
const PROTO = 'syntax = "proto3";\npackage shop;\nservice Cart {\n  rpc AddItem(Item) returns (Item);\n}\nmessage Item { string sku = 1; }\n';
const ALLOC = '(func (export "workd_alloc") (param i32) (result i32) i32.const 1024)';
const METHOD = '(func (export "AddItem") (param i32 i32) (result i32) i32.const 0)';
const MEM = '(memory (export "memory") 1)';
const mod = (body: string) => watToWasm(`(module ${body})`);

const dir = mkdtempSync(join(tmpdir(), 'workd-validate-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'cart.proto'), PROTO);
const descriptors = compileProtoFilesToBinary([join(dir, 'cart.proto')]);

/** The message of the error `f` throws (it must throw a WorkdError). */
async function errorOf(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (err) {
    assert.ok(err instanceof WorkdError, String(err));
    return err.message;
  }
  assert.fail('expected an error');
}

function build(wasm: Uint8Array, extra: string[] = []) {
  const wasmPath = join(dir, `m${Math.random().toString(36).slice(2)}.wasm`);
  writeFileSync(wasmPath, wasm);
  const out = join(dir, `out-${Math.random().toString(36).slice(2)}`);
  const r = spawnSync(process.execPath, [WORKD_BIN, 'image', 'build', '--wasm', wasmPath, '--proto', join(dir, 'cart.proto'), '--component', COMPONENT, '-o', out, ...extra], { encoding: 'utf8', timeout: 30_000 });
  return { ...r, out };
}

test('each ABI problem is refused at build time with the message the node gives at prepare', async (t) => {
  const ex = testExecutor({ workers: 1 });
  t.after(() => ex.close());
  const cases: [string, string, RegExp][] = [
    ['no memory export', `(memory 1) ${ALLOC} ${METHOD}`, /does not export its memory as "memory"/],
    ['no workd_alloc', `${MEM} ${METHOD}`, /does not export the function workd_alloc/],
    ['unknown import', `(import "env" "abort" (func (param i32 i32 i32 i32))) ${MEM} ${ALLOC} ${METHOD}`, /import env\.abort: the node provides only the modules wasi_snapshot_preview1 and workd \(AssemblyScript: extend the SDK.s asconfig\.json, or build with --use abort=~lib\/workd-assemblyscript/],
    ['method with the wrong signature', `${MEM} ${ALLOC} (func (export "AddItem") (param i32) (result i32) i32.const 0)`, /method export "AddItem" has type \(i32\) -> \(i32\); methods must be \(i32, i32\) -> \(i32\)/],
    ['a command module', `${MEM} ${ALLOC} ${METHOD} (func (export "_start"))`, /is a WASI command \(it exports _start and no _initialize\).*build it as a reactor/],
  ];
  let n = 0;
  for (const [name, body, re] of cases) {
    const wasm = await mod(body);
    const atBuild = await errorOf(() => checkComponent(wasm, descriptors, COMPONENT));
    const atNode = await errorOf(() => ex.prepare(`sha256:v${n++}`, wasm, 1));
    assert.match(atBuild, re, name);
    assert.equal(atBuild, atNode, `${name}: the same message at build and at start`);
  }
});

test('an initial memory above the default container limit is refused with StartContainer\'s message', async (t) => {
  const ex = testExecutor({ workers: 1, memoryLimitBytes: 64 * 1024 * 1024 });
  t.after(() => ex.close());
  const wasm = await mod(`(memory (export "memory") 1025) ${ALLOC} ${METHOD}`);
  const atBuild = await errorOf(() => checkComponent(wasm, descriptors, COMPONENT));
  const m = await ex.prepare('sha256:big', wasm, 1);
  const atStart = await errorOf(() => ex.start({ containerId: 'big', module: m, env: {}, limits: {} }));
  assert.match(atBuild, /needs 67174400 bytes of memory to start; the container's memory limit is 67108864 bytes/);
  assert.equal(atBuild, atStart);
  // --memory-limit checks against another limit
  const ok = build(wasm, ['--memory-limit', String(128 * 1024 * 1024)]);
  assert.equal(ok.status, 0, ok.stderr);
});

test('workd image build refuses a module whose exports do not match the .proto, and writes nothing', async () => {
  const missing = build(await mod(`${MEM} ${ALLOC} (func (export "addItem") (param i32 i32) (result i32) i32.const 0)`));
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^workd: the module does not implement its service: rpc shop\.Cart\/AddItem is not exported by the module \(did you mean "addItem"\? names are case-sensitive\); the module exports "addItem", which service shop\.Cart does not name/);
  assert.equal(existsSync(missing.out), false, 'no layout written');
  const good = build(await mod(`${MEM} ${ALLOC} ${METHOD}`));
  assert.equal(good.status, 0, good.stderr);
  assert.match(good.stdout, /methods AddItem/);
  assert.equal(good.stderr, '');
});

test('what is legal but likely wrong builds with a warning', async () => {
  const r = build(await mod(`(import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32))) ${MEM} ${ALLOC} ${METHOD} (func (export "_initialize")) (func (export "_start"))`));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: import wasi_snapshot_preview1\.path_open always fails on the node: there is no filesystem/);
  assert.match(r.stderr, /warning: the module exports _start, which the node never calls/);
});

test('StartContainer logs the build-time message for a module lacking an rpc', async (t) => {
  const wasm = await mod(`${MEM} ${ALLOC} (func (export "Other") (param i32 i32) (result i32) i32.const 0)`);
  const atBuild = await errorOf(() => checkComponent(wasm, descriptors, COMPONENT));
  const d = await startDaemon({ args: ['--plaintext'], logLevel: 'info' });
  const cri = criClient(d.criSocket);
  const img = await buildTestImage({ component: COMPONENT, wasm, proto: PROTO });
  t.after(async () => {
    cri.close();
    await d.stop();
    await img.cleanup();
  });
  await runComponent(cri, COMPONENT, await importImage(cri, img.dir));
  const line = await d.waitForLog((l) => l.msg === 'the module does not implement its service exactly', 5000);
  assert.ok(atBuild.endsWith(String(line.problems)), `build: ${atBuild}\nlog: ${String(line.problems)}`);
  assert.match(String(line.problems), /rpc shop\.Cart\/AddItem is not exported by the module; the module exports "Other", which service shop\.Cart does not name/);
});
