// The AssemblyScript SDK's protobuf codec and metadata helpers against a reference encoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { compileAssemblyScript } from '../helpers/assemblyscript.js';
import { startGuest, testExecutor } from '../helpers/executor.js';
import { Code } from '../../src/errors.js';

function encodeAll(v: { neg: boolean }): Uint8Array {
  const w = new BinaryWriter();
  const sign = v.neg ? -1 : 1;
  w.tag(1, 1).double(sign * 1234.5678);
  w.tag(2, 5).float(sign * 1.5);
  w.tag(3, 0).int32(sign * 2147483647);
  w.tag(4, 0).int64(v.neg ? '-9007199254740993' : '9007199254740993');
  w.tag(5, 0).uint32(4294967295);
  w.tag(6, 0).uint64('18446744073709551615');
  w.tag(7, 0).sint32(sign * 123456);
  w.tag(8, 0).sint64(v.neg ? '-9223372036854775808' : '9223372036854775807');
  w.tag(9, 0).bool(true);
  w.tag(10, 5).fixed32(4000000000);
  w.tag(11, 1).fixed64('18000000000000000000');
  w.tag(12, 2).string('héllo, wörld ✓');
  w.tag(13, 2).bytes(Uint8Array.of(0, 1, 2, 255));
  w.tag(14, 2).fork().tag(1, 2).string('inner').join();
  return w.finish();
}

test('the SDK decodes and re-encodes every scalar type exactly as protobuf does', async (t) => {
  const ex = testExecutor({ workers: 1 });
  t.after(() => ex.close());
  const c = await startGuest(ex, await compileAssemblyScript('sdk/assemblyscript/test/roundtrip.ts'));
  for (const neg of [false, true]) {
    const req = encodeAll({ neg });
    const r = await c.call({ method: 'RoundTrip', request: req, metadata: [['x-who', 'tester'], ['x-raw-bin', Uint8Array.of(9, 8, 7)]] });
    assert.equal(r.status, 0, r.message);
    assert.deepEqual([...r.response!], [...req]);
    assert.deepEqual(r.trailers, [['x-seen', 'tester'], ['x-raw-bin', Uint8Array.of(9, 8, 7)]]);
  }
  // unknown fields are skipped; defaults are left out
  const unknown = new BinaryWriter().tag(99, 0).uint32(5).tag(98, 2).string('skip me').finish();
  const empty = await c.call({ method: 'RoundTrip', request: unknown, metadata: [] });
  assert.deepEqual([...empty.response!], []);
  // truncated input is refused with the SDK's error path
  const bad = await c.call({ method: 'RoundTrip', request: Uint8Array.of(0x0a, 10, 1), metadata: [] });
  assert.deepEqual([bad.status, bad.message], [Code.INVALID_ARGUMENT, 'malformed All']);
});
