// The codec against jco's real glue: a component (a hand-written core module,
// test/fixtures/wit/mirror.wat, wrapped with the WIT `workd wit` prints) that
// echoes its request record is transpiled by jco and called with the codec's
// values; what comes back must encode to the same protobuf message. A value
// of the wrong shape (a Float64Array for list<f32>, a number for s64, ...)
// would be refused or garbled by jco's lowering and fail here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile, mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import { componentEmbed, componentNew } from '@bytecodealliance/jco-transpile/wasm-tools';
import { transpileBytes } from '@bytecodealliance/jco-transpile';
import { compileProtoFilesToBinary, parseDescriptorSet } from '../../images/proto-compile.js';
import { watToWasm } from '../../../test/helpers/guests.js';
import { mapService } from '../wit/mapping.js';
import { witFile } from '../wit/print.js';
import { validateComponent } from '../../wasm/validate.js';
import { serviceCodec } from './index.js';

const PROTO = 'test/fixtures/wit/echo.proto';
const set = compileProtoFilesToBinary([PROTO]);
const { registry } = parseDescriptorSet(set);
const E = registry.getMessage('echo.v1.Everything')!;
const codec = serviceCodec(set, 'echo.v1.Mirror');
const echo = codec.method('Echo')!;

type Glue = { mirror: { echo(ctx: unknown, req: unknown): unknown } };

async function mirrorComponent(): Promise<{ glue: Glue; wasm: Uint8Array; close(): Promise<void> }> {
  const core = await watToWasm(readFileSync('test/fixtures/wit/mirror.wat', 'utf8'), 'mirror.wat');
  const wit = witFile([mapService(registry, 'echo.v1.Mirror')]);
  const wasm = await componentNew(await componentEmbed({ binary: core, witSource: wit, world: 'mirror' }));
  const out = await transpileBytes(wasm, { name: 'mirror', instantiation: 'sync' });
  const dir = await mkdtemp(join(tmpdir(), 'workd-jco-'));
  for (const [name, bytes] of Object.entries(out.files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), bytes);
  }
  // The glue is an ES module; a .js file in a temp dir would be read as CommonJS.
  await rename(join(dir, 'mirror.js'), join(dir, 'mirror.mjs'));
  const mod = (await import(pathToFileURL(join(dir, 'mirror.mjs')).href)) as {
    instantiate(get: (p: string) => WebAssembly.Module, imports: object): Glue;
  };
  const glue = mod.instantiate((p) => new WebAssembly.Module(readFileSync(join(dir, p))), {});
  return { glue, wasm, close: () => rm(dir, { recursive: true, force: true }) };
}

function roundTrip(glue: Glue, bytes: Uint8Array): Uint8Array {
  return echo.encodeResponse(glue.mirror.echo(codec.context([['x-a', 'b']]), echo.decodeRequest(bytes)));
}

test('protobuf -> jco values -> a component -> jco values -> protobuf keeps every field', async () => {
  const c = await mirrorComponent();
  try {
    await validateComponent(c.wasm, set, 'echo.v1.Mirror');
    const full = create(E, {
      f64: -1.25, f32: 3.5, i64: -(2n ** 63n), u64: 2n ** 64n - 1n, i32: -2147483648, fx64: 12345678901234n, fx32: 4294967295,
      flag: true, text: 'grüße 👋', blob: Uint8Array.of(0, 1, 255), u32: 7, sf32: -9, sf64: -99n, s32: -3, s64: -4n, mood: 2,
      origin: { x: 1, y: -1 }, path: [{ x: 2, y: 3 }, { x: 0, y: 0 }], samples: [0.5, -2, 1e300], counts: [1n, -1n, 2n ** 40n],
      names: ['a', '', 'ç'], moods: [0, 1, 2], places: { here: { x: 5, y: 6 }, '': { x: 0, y: 1 } }, labels: { '-7': 'neg', '9': 'pos' },
      nickname: 'n', age: 0, choice: { case: 'feeling', value: 1 }, bits: [true, false, true], chunks: [Uint8Array.of(9), new Uint8Array()],
      weights: [1.5, -0.25], deltas: [-1, 2], ids: [4294967295, 0], sizes: [2n ** 64n - 1n, 3n],
    } as never);
    for (const msg of [full, create(E), create(E, { choice: { case: 'spot', value: { x: 1, y: 2 } } } as never), create(E, { choice: { case: 'word', value: 'w' } } as never)]) {
      assert.ok(equals(E, fromBinary(E, roundTrip(c.glue, toBinary(E, msg))), msg));
    }
  } finally {
    await c.close();
  }
});

test('arbitrary messages survive the trip through jco\'s glue (fast-check, 60 runs)', async () => {
  const c = await mirrorComponent();
  try {
    const point = fc.record({ x: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), y: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) });
    const i64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    const arb = fc.record({
      f64: fc.double({ noNaN: true }), f32: fc.float({ noNaN: true }).map(Math.fround), i64, u64: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      i32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), u32: fc.integer({ min: 0, max: 2 ** 32 - 1 }), flag: fc.boolean(), text: fc.string({ unit: 'grapheme' }),
      blob: fc.uint8Array({ maxLength: 40 }), mood: fc.integer({ min: 0, max: 2 }), origin: fc.option(point, { nil: undefined }),
      path: fc.array(point, { maxLength: 4 }), samples: fc.array(fc.double({ noNaN: true }), { maxLength: 5 }), counts: fc.array(i64, { maxLength: 5 }),
      names: fc.array(fc.string(), { maxLength: 4 }), moods: fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 4 }),
      places: fc.dictionary(fc.string({ maxLength: 6 }), point, { maxKeys: 3 }), labels: fc.dictionary(i64.map(String), fc.string(), { maxKeys: 3 }),
      nickname: fc.option(fc.string(), { nil: undefined }), bits: fc.array(fc.boolean(), { maxLength: 6 }), chunks: fc.array(fc.uint8Array({ maxLength: 5 }), { maxLength: 3 }),
      weights: fc.array(fc.float({ noNaN: true }).map(Math.fround), { maxLength: 4 }), deltas: fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 4 }),
      ids: fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { maxLength: 4 }), sizes: fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { maxLength: 4 }),
    });
    fc.assert(
      fc.property(arb, (init) => {
        const msg = create(E, init as never);
        return equals(E, fromBinary(E, roundTrip(c.glue, toBinary(E, msg))), msg);
      }),
      { numRuns: 60 },
    );
  } finally {
    await c.close();
  }
});
