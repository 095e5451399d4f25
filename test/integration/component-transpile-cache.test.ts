// The executor's on-disk cache of component transpiles (src/components/runtime/
// transpile-cache.ts): a second executor on the same directory (a restarted
// daemon) prepares the image without transpiling, its calls answer as before,
// an entry that is damaged or from other bytes is not used, a component whose
// world is not its service's is refused even when cached, and removing the
// image deletes its entry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { createExecutor } from '../../src/wasm/executor.js';
import { compileProtoFilesToBinary, parseDescriptorSet } from '../../src/images/proto-compile.js';
import type { Executor, PreparedModule } from '../../src/wasm/api.js';
import { COMPONENTS_DIR, fixtureComponent, type TestComponent } from '../helpers/components.js';
import { tempDir } from '../helpers/executor.js';

const SERVICE = 'test.v1.Counter';
const IMAGE = 'sha256:counter-cached';

/** An executor on `dir` whose log records the test reads. */
function executor(dir: string) {
  const records: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) });
  const ex = createExecutor({ workers: 1, memoryLimitBytes: 16 << 20, cpuMsPerCall: 1000, maxInFlight: 64 }, log, { componentCacheDir: dir });
  const prepared = (imageId: string) => records.filter((r) => r.imageId === imageId && typeof r.cached === 'boolean').map((r) => r.cached);
  return { ex, prepared };
}

const prepare = (ex: Executor, c: TestComponent, imageId = IMAGE, descriptorSet = c.descriptorSet) =>
  ex.prepare(imageId, c.wasm, 1, { descriptorSet, service: SERVICE });

let n = 0;
async function bump(ex: Executor, c: TestComponent, module: PreparedModule, text: string) {
  const reg = parseDescriptorSet(c.descriptorSet).registry;
  const req = reg.getMessage('test.v1.BumpRequest')!;
  const res = reg.getMessage('test.v1.BumpResponse')!;
  const k = await ex.start({ containerId: `cached-${n++}`, module, env: {}, limits: {} });
  try {
    const out: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await k.call({ method: 'Bump', request: toBinary(req, create(req, { text })), metadata: [] });
      assert.equal(r.status, 0, r.message);
      out.push(fromBinary(res, r.response!));
    }
    return out.map((m) => ({ text: (m as { text: string }).text, calls: (m as { calls: number }).calls }));
  } finally {
    await k.stop(1000);
  }
}

const entries = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.transpiled'));

test('a second executor on the same directory prepares a component from the cache, and it answers as before', async () => {
  const dir = join(tempDir(), 'components');
  const c = await fixtureComponent('counter', SERVICE);
  const first = executor(dir);
  try {
    const m = await prepare(first.ex, c);
    assert.deepEqual(first.prepared(IMAGE), [false], 'the first prepare transpiles');
    assert.deepEqual(await bump(first.ex, c, m, 'a'), Array(3).fill({ text: 'a', calls: 1 }));
  } finally {
    await first.ex.close();
  }
  assert.equal(entries(dir).length, 1, 'one entry for the image');

  const second = executor(dir);
  try {
    const m = await prepare(second.ex, c);
    assert.deepEqual(second.prepared(IMAGE), [true], 'the restarted executor uses the cached transpile');
    assert.deepEqual([...m.methods], ['Bump']);
    assert.deepEqual(await bump(second.ex, c, m, 'b'), Array(3).fill({ text: 'b', calls: 1 }), 'pristine state per call, from the cached modules too');
    second.ex.evict(IMAGE);
    for (let i = 0; i < 100 && entries(dir).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(entries(dir), [], 'removing the image deletes its entry');
  } finally {
    await second.ex.close();
  }
});

test('a damaged entry, or one made from other bytes, is not used: the component is transpiled again and the entry rewritten', async () => {
  const dir = join(tempDir(), 'components');
  const c = await fixtureComponent('counter', SERVICE);
  const a = executor(dir);
  await prepare(a.ex, c).finally(() => a.ex.close());
  const [file] = entries(dir);
  const bytes = readFileSync(join(dir, file!));
  bytes[bytes.length - 10]! ^= 0xff;
  writeFileSync(join(dir, file!), bytes);

  const b = executor(dir);
  try {
    assert.deepEqual(await bump(b.ex, c, await prepare(b.ex, c), 'd'), Array(3).fill({ text: 'd', calls: 1 }));
    assert.deepEqual(b.prepared(IMAGE), [false], 'the damaged entry is a miss');
  } finally {
    await b.ex.close();
  }
  const again = executor(dir);
  await prepare(again.ex, c).finally(() => again.ex.close());
  assert.deepEqual(again.prepared(IMAGE), [true], 'the entry was rewritten whole');

  // The same image ID with other component bytes (a custom section appended): not this entry.
  const other: TestComponent = { ...c, wasm: Uint8Array.from([...c.wasm, 0x00, 0x03, 0x01, 0x78, 0x00]) };
  const o = executor(dir);
  await prepare(o.ex, other).finally(() => o.ex.close());
  assert.deepEqual(o.prepared(IMAGE), [false]);
});

test('a cached component whose world is not its service is refused with the world check words', async () => {
  const dir = join(tempDir(), 'components');
  const c = await fixtureComponent('counter', SERVICE);
  const a = executor(dir);
  await prepare(a.ex, c).finally(() => a.ex.close());
  // The same service name over another .proto: its Bump takes another message.
  const proto = join(tempDir(), 'counter.proto');
  writeFileSync(proto, readFileSync(join(COMPONENTS_DIR, 'counter.proto'), 'utf8').replace('message BumpRequest { string text = 1; }', 'message BumpRequest { int32 text = 1; }'));
  const wrong = compileProtoFilesToBinary([proto]);
  const b = executor(dir);
  try {
    await assert.rejects(prepare(b.ex, c, IMAGE, wrong), (err: Error & { code?: number }) => {
      assert.equal(err.code, 3);
      assert.match(err.message, /^the component does not implement the world of service test\.v1\.Counter: /);
      return true;
    });
  } finally {
    await b.ex.close();
  }
});
