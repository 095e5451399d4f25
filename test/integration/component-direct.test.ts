// Direct calls (src/components/runtime/direct.ts: our own canonical-ABI
// lowering from protobuf and lifting back, without jco's glue) answer exactly
// what the glue and the codec answer: the same status, message and response
// bytes, for arbitrary messages of every simple field kind, for params passed
// flat and in memory, for an error result, for request bytes that are not the
// message, strings that are not UTF-8 or start with a byte order mark, and
// binary metadata. The component is a hand-written core module
// (test/fixtures/components/flat.wat) wrapped with the world `workd wit` prints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { create, toBinary } from '@bufbuild/protobuf';
import { parseDescriptorSet } from '../../src/images/proto-compile.js';
import { prepareComponent } from '../../src/components/runtime/prepare.js';
import { ComponentInstance, loadComponent } from '../../src/components/runtime/instance.js';
import { CallState } from '../../src/wasm/host.js';
import type { MetadataEntry } from '../../src/wasm/api.js';
import { fixtureComponent } from '../helpers/components.js';

const SERVICE = 'test.v1.Flat';

async function both() {
  const c = await fixtureComponent('flat', SERVICE);
  const p = await prepareComponent(c.wasm, c.descriptorSet, SERVICE);
  const direct = new ComponentInstance(await loadComponent(p.spec.component!, { direct: true }), 64, new CallState([]));
  const glue = new ComponentInstance(await loadComponent(p.spec.component!, { direct: false }), 64, new CallState([]));
  const reg = parseDescriptorSet(c.descriptorSet).registry;
  const call = (inst: ComponentInstance, method: string, bytes: Uint8Array, md: readonly MetadataEntry[]) => {
    const r = inst.call(method, bytes, md, new CallState([]));
    return { status: r.status, message: r.message, response: r.response ? Buffer.from(r.response).toString('hex') : undefined };
  };
  /** Both paths on the same call; returns the answer. */
  const same = (method: string, bytes: Uint8Array, md: readonly MetadataEntry[] = []) => {
    const a = call(direct, method, bytes, md);
    const b = call(glue, method, bytes, md);
    assert.deepEqual(a, b, `${method} ${Buffer.from(bytes).toString('hex')}`);
    return a;
  };
  return { direct, glue, same, Small: reg.getMessage('test.v1.SmallMessage')!, Wide: reg.getMessage('test.v1.WideMessage')! };
}

const i32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const i64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const metadata = fc.array(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), fc.oneof(fc.string({ maxLength: 12 }), fc.uint8Array({ maxLength: 6 }))), { maxLength: 3 });

test('the simple rpcs are called directly, and answer as the glue does: flat and in-memory params, every scalar kind, an error result', async () => {
  const { direct, glue, same, Small, Wide } = await both();
  assert.deepEqual(direct.directRpcs().sort(), ['Small', 'Wide']);
  assert.deepEqual(glue.directRpcs(), []);
  // component-runtime.test.ts's counter (imports stdout and add-trailer, traps, loops, grows) runs this path too.
  const counter = await fixtureComponent('counter', 'test.v1.Counter');
  const cp = await prepareComponent(counter.wasm, counter.descriptorSet, 'test.v1.Counter');
  assert.deepEqual(new ComponentInstance(await loadComponent(cp.spec.component!), 64, new CallState([])).directRpcs(), ['Bump']);
  assert.deepEqual(same('Small', toBinary(Small, create(Small, { text: 'grüße 👋', blob: Uint8Array.of(0, 255), n: -7 }))).status, 0);
  const err = same('Small', toBinary(Small, create(Small, { text: 'no such order', n: -1 })));
  assert.deepEqual([err.status, err.message], [3, 'no such order']);
  fc.assert(
    fc.property(fc.record({ text: fc.string({ unit: 'grapheme', maxLength: 20 }), blob: fc.uint8Array({ maxLength: 30 }), n: i32 }), metadata, (m, md) => {
      same('Small', toBinary(Small, create(Small, m)), md);
    }),
    { numRuns: 200 },
  );
  const wide = fc.record({
    f64: fc.double(), f32: fc.float().map(Math.fround), i64, u64, i32, fx64: u64, fx32: u32, flag: fc.boolean(),
    text: fc.string({ unit: 'grapheme', maxLength: 12 }), blob: fc.uint8Array({ maxLength: 12 }), u32, mood: fc.integer({ min: 0, max: 5 }),
    sf32: i32, sf64: i64, s32: i32, s64: i64,
  });
  fc.assert(
    fc.property(wide, metadata, (m, md) => {
      const r = same('Wide', toBinary(Wide, create(Wide, m as never)), md);
      assert.equal(r.status, 0, r.message);
    }),
    { numRuns: 300 },
  );
  // -0 is written, +0 left out, NaN kept; an enum number the enum lacks reads as its first case.
  same('Wide', toBinary(Wide, create(Wide, { f64: -0, f32: Number.NaN, mood: 9 } as never)));
});

test('requests the direct path does not read as the codec would are answered by the codec: bad bytes, wrong wire types, bad UTF-8, a BOM', async () => {
  const { same } = await both();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
      same('Small', bytes);
      same('Wide', bytes);
    }),
    { numRuns: 300 },
  );
  // field 1 (text) as a varint; text with an invalid byte; text starting with a BOM; unknown fields and a group.
  for (const hex of ['0805', '0a02c328', '0a05efbbbf6869', '0a02686958011a00', '2b0801082c1801', '0a']) {
    same('Small', Buffer.from(hex, 'hex'));
  }
  const bad = same('Small', Buffer.from('0a02c328', 'hex'));
  assert.equal(bad.status, 13);
  assert.match(bad.message, /cannot parse the request as test\.v1\.SmallMessage/);
});
