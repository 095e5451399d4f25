import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { compileProtoFilesToBinary, parseDescriptorSet } from '../../images/proto-compile.js';
import { Code, WorkdError } from '../../errors.js';
import { serviceCodec } from './index.js';

const FIX = 'test/fixtures/wit';
const setOf = (file: string) => compileProtoFilesToBinary([`${FIX}/${file}`]);
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function internalNaming(field: string) {
  return (e: unknown) => e instanceof WorkdError && e.code === Code.INTERNAL && e.message.includes(field);
}

const echo = serviceCodec(setOf('echo.proto'), 'echo.v1.Mirror');
const m = echo.method('Echo')!;

test('the encoding guide\'s examples decode to jco values: varint 150, a string, packed and unpacked repeated', () => {
  // protobuf.dev/programming-guides/encoding: `08 96 01` is field 1 = 150; here int32 i32 = 5.
  assert.equal((m.decodeRequest(hex('28 96 01')) as { i32: number }).i32, 150);
  // a string: field 9 "testing"
  assert.equal((m.decodeRequest(hex('4a 07 74 65 73 74 69 6e 67')) as { text: string }).text, 'testing');
  // sint32 zigzag: field 14 = -2 is 03
  assert.equal((m.decodeRequest(hex('70 03')) as { s32: number }).s32, -2);
  // repeated int64 counts = 20: packed `a2 01 06 03 8e 02 9e a7 05` (3, 270, 86942) and the same unpacked.
  const packed = m.decodeRequest(hex('a2 01 06 03 8e 02 9e a7 05')) as { counts: BigInt64Array };
  assert.ok(packed.counts instanceof BigInt64Array);
  assert.deepEqual([...packed.counts], [3n, 270n, 86942n]);
  const loose = m.decodeRequest(hex('a0 01 03 a0 01 8e 02 a0 01 9e a7 05')) as { counts: BigInt64Array };
  assert.deepEqual([...loose.counts], [3n, 270n, 86942n]);
});

test('values have jco\'s shapes: camelCase records, typed arrays, BigInt, enum and variant strings, undefined options, map tuples', () => {
  const { registry } = parseDescriptorSet(setOf('echo.proto'));
  const E = registry.getMessage('echo.v1.Everything')!;
  const msg = create(E, {
    f64: 1.5, f32: 0.25, i64: -5n, u64: 2n ** 64n - 1n, i32: -7, fx64: 9n, fx32: 10, flag: true, text: 'héllo', blob: hex('00ff'),
    mood: 2, origin: { x: -1, y: 2 }, path: [{ x: 1, y: 1 }], samples: [0.5, 2], counts: [1n], names: ['a', 'b'], moods: [1, 0],
    places: { home: { x: 3, y: 4 } }, labels: { '-3': 'minus three' }, nickname: '', choice: { case: 'spot', value: { x: 8, y: 9 } },
    bits: [true, false], chunks: [hex('01')],
  } as never);
  const v = m.decodeRequest(toBinary(E, msg)) as Record<string, unknown>;
  assert.equal(v.f64, 1.5);
  assert.equal(v.f32, 0.25);
  assert.equal(v.i64, -5n);
  assert.equal(v.u64, 2n ** 64n - 1n);
  assert.equal(v.fx64, 9n);
  assert.equal(v.flag, true);
  assert.equal(v.text, 'héllo');
  assert.ok(v.blob instanceof Uint8Array);
  assert.equal(v.mood, 'grumpy');
  assert.deepEqual(v.origin, { x: -1, y: 2 });
  assert.deepEqual(v.path, [{ x: 1, y: 1 }]);
  assert.ok(v.samples instanceof Float64Array);
  assert.deepEqual(v.names, ['a', 'b']);
  assert.deepEqual(v.moods, ['happy', 'unspecified']);
  assert.deepEqual(v.places, [['home', { x: 3, y: 4 }]]);
  assert.deepEqual(v.labels, [[-3n, 'minus three']]);
  assert.equal(v.nickname, '', 'a proto3 optional set to its zero value is present');
  assert.equal(v.age, undefined, 'an unset proto3 optional is undefined');
  assert.deepEqual(v.choice, { tag: 'spot', val: { x: 8, y: 9 } });
  assert.deepEqual(v.bits, [true, false]);
  assert.ok((v.chunks as unknown[])[0] instanceof Uint8Array);
  assert.ok(v.counts instanceof BigInt64Array);
  // the record has exactly the WIT fields, in jco's camelCase
  assert.deepEqual(Object.keys(v).sort(), [
    'age', 'bits', 'blob', 'choice', 'chunks', 'counts', 'f32', 'f64', 'flag', 'fx32', 'fx64', 'i32', 'i64', 'labels', 'mood', 'moods',
    'names', 'nickname', 'origin', 'path', 'places', 'samples', 'sf32', 'sf64', 's32', 's64', 'text', 'u32', 'u64', 'weights', 'deltas', 'ids', 'sizes',
  ].sort());
  // and it encodes back to the same message
  assert.deepEqual(fromBinary(E, m.encodeResponse(v)), fromBinary(E, toBinary(E, msg)));
});

test('protobuf\'s rules: unknown fields skipped, last value wins, messages merge, oneof last member wins, map last key wins', () => {
  // field 99 (unknown, varint) then i32 = 1, then i32 = 2: the last wins.
  const a = m.decodeRequest(hex('98 06 01 28 01 28 02')) as { i32: number };
  assert.equal(a.i32, 2);
  // origin (17) twice: {x: 1} then {y: 1} merge into {x: 1, y: 1} (sint32 1 = 02).
  const b = m.decodeRequest(hex('8a 01 02 08 02 8a 01 02 10 02')) as { origin: unknown };
  assert.deepEqual(b.origin, { x: 1, y: 1 });
  // oneof: word (27) then feeling (29) = 1: the last member set wins.
  const c = m.decodeRequest(hex('da 01 01 61 e8 01 01')) as { choice: unknown };
  assert.deepEqual(c.choice, { tag: 'feeling', val: 'happy' });
  // map<int64,string> labels (24): key 1 -> "a", then key 1 -> "b".
  const d = m.decodeRequest(hex('c2 01 05 08 01 12 01 61 c2 01 05 08 01 12 01 62')) as { labels: unknown };
  assert.deepEqual(d.labels, [[1n, 'b']]);
  // an unknown enum number of an open enum reads as its first value
  assert.equal((m.decodeRequest(hex('80 01 07')) as { mood: string }).mood, 'unspecified');
});

test('defaults: absent proto3 fields read as zero values and zero values are not written', () => {
  const v = m.decodeRequest(new Uint8Array()) as Record<string, unknown>;
  assert.equal(v.i32, 0);
  assert.equal(v.i64, 0n);
  assert.equal(v.text, '');
  assert.equal(v.mood, 'unspecified');
  assert.equal(v.origin, undefined);
  assert.equal(v.choice, undefined);
  assert.deepEqual(v.places, []);
  assert.equal(toHex(m.encodeResponse(v)), '');
  // a present proto3 optional is written even when zero: nickname = "" -> ca 01 00
  assert.equal(toHex(m.encodeResponse({ ...v, nickname: '' })), 'ca0100');
});

test('proto2: required, declared defaults, explicit presence and closed enums', () => {
  const c = serviceCodec(setOf('legacy.proto'), 'legacy.Ledger');
  const post = c.method('Post')!;
  const v = post.decodeRequest(hex('0a 01 78')) as Record<string, unknown>; // account = "x"
  assert.deepEqual(v, { account: 'x', amount: undefined, retries: 3, kind: 'credit', tags: new Int32Array(), loose: new Int32Array(), reversal: undefined });
  // explicit presence: amount = 0 is written; a declared-default field is always written
  assert.equal(toHex(post.encodeResponse({ ...v, amount: 0 })), '0a01781000180320' + '02');
  // an unknown closed-enum value (kind = 9) is kept out of the field, which reads as its default
  assert.equal((post.decodeRequest(hex('0a 01 78 20 09')) as { kind: string }).kind, 'credit');
  // packed = true is written packed; the other repeated field unpacked
  assert.equal(toHex(post.encodeResponse({ ...v, tags: Int32Array.from([1, 2]), loose: [1, 2] })), '0a01781803200' + '22a0201023001' + '3002');
});

test('recursive messages travel as their protobuf encoding; a bad one is INTERNAL naming the field', () => {
  const c = serviceCodec(setOf('shop.proto'), 'shop.v1.Shop');
  const list = c.method('list')!;
  assert.equal(list.funcName, 'list');
  // Category{name: "root", children: [Category{name: "leaf"}]}
  const v = list.decodeRequest(hex('0a 04 72 6f 6f 74 12 06 0a 04 6c 65 61 66')) as { name: string; children: Uint8Array[] };
  assert.equal(v.name, 'root');
  assert.equal(toHex(v.children[0]!), '0a046c656166');
  assert.equal(toHex(list.encodeResponse(v)), '0a04726f6f7412060a046c656166');
  assert.throws(() => list.encodeResponse({ name: 'x', children: [hex('ff ff')], parent: undefined }), internalNaming('response shop.v1.Category.children[0]: not a valid encoding of shop.v1.Category'));
});

test('well-known types: wrappers as their scalar, Struct as JSON text, Timestamp a record, Empty as presence or nothing', () => {
  const c = serviceCodec(setOf('shop.proto'), 'shop.v1.Shop');
  const place = c.method('PlaceOrder')!;
  const ping = c.method('Ping')!;
  assert.equal(ping.takesRequest, false);
  assert.equal(ping.returnsValue, false);
  assert.equal(ping.decodeRequest(new Uint8Array()), undefined);
  assert.equal(ping.encodeResponse(undefined).length, 0);
  const { registry } = parseDescriptorSet(setOf('shop.proto'));
  const O = registry.getMessage('shop.v1.Order')!;
  const order = create(O, {
    id: 'o1', priority: 0, extra: { a: 1, b: [true, null] }, placed: { seconds: 5n, nanos: 6 }, express: {},
    payment: { case: 'cash', value: {} }, discounts: { x: 2n }, byNumber: { 7: { sku: 's', quantity: 2, color: 2 } },
  } as never);
  const v = place.decodeRequest(toBinary(O, order)) as Record<string, unknown>;
  assert.equal(v.priority, 0, 'a set wrapper holding 0 is present');
  assert.deepEqual(JSON.parse(v.extra as string), { a: 1, b: [true, null] });
  assert.deepEqual(v.placed, { seconds: 5n, nanos: 6 });
  assert.equal(v.express, true);
  assert.deepEqual(v.payment, { tag: 'cash' });
  assert.deepEqual(v.byNumber, [[7, { sku: 's', quantity: 2, color: 'deep-blue' }]]);
  assert.ok(v.weights instanceof Float32Array);
  // the whole order back (the response type differs, so encode through the request's record by decoding it again)
  const again = place.decodeRequest(toBinary(O, order));
  assert.deepEqual(again, v);
});

test('a value the guest returns that protobuf cannot hold is INTERNAL naming the field', () => {
  const ok = m.decodeRequest(new Uint8Array()) as Record<string, unknown>;
  const bad = (patch: Record<string, unknown>, field: string) => assert.throws(() => m.encodeResponse({ ...ok, ...patch }), internalNaming(field));
  bad({ i32: 2 ** 31 }, 'response echo.v1.Everything.i32: expected an s32');
  bad({ u32: -1 }, 'response echo.v1.Everything.u32: expected a u32');
  bad({ i64: 1.5 }, 'response echo.v1.Everything.i64: expected an s64');
  bad({ mood: 'sad' }, "response echo.v1.Everything.mood: expected a case of enum mood ('unspecified', 'happy', 'grumpy'), got string sad");
  bad({ text: 'a\ud800' }, 'response echo.v1.Everything.text: the string is not valid Unicode');
  bad({ path: [{ x: 1, y: 'no' }] }, 'response echo.v1.Everything.path[0].y: expected an s32');
  bad({ places: [['k', { x: 1, y: 2 }], ['j']] }, 'response echo.v1.Everything.places[1]: expected a [key, value] tuple');
  bad({ choice: { tag: 'nope', val: 1 } }, "response echo.v1.Everything.choice: expected a variant {tag, val} with tag 'word' or 'spot' or 'feeling'");
  bad({ origin: 5 }, 'response echo.v1.Everything.origin: expected a record');
  assert.throws(() => m.encodeResponse(undefined), internalNaming('response echo.v1.Everything: expected a record'));
  const shop = serviceCodec(setOf('shop.proto'), 'shop.v1.Shop');
  const list = shop.method('list')!;
  assert.throws(() => list.encodeResponse({ name: 1, children: [], parent: undefined }), internalNaming('response shop.v1.Category.name: expected a string, got number 1'));
});

test('a request that is not protobuf is INTERNAL naming the message', () => {
  assert.throws(() => m.decodeRequest(hex('0a ff')), internalNaming('cannot parse the request as echo.v1.Everything'));
});

test('the context carries metadata, binary values as base64; a thrown grpc-status is the call\'s status', () => {
  assert.deepEqual(echo.context([['x-user', 'ann'], ['trace-bin', hex('0102ff')]]), { metadata: [['x-user', 'ann'], ['trace-bin', 'AQL/']] });
  assert.deepEqual(echo.errorStatus({ code: 'not-found', message: 'no such cart' }), { code: Code.NOT_FOUND, message: 'no such cart' });
  assert.deepEqual(echo.errorStatus(Object.assign(new Error('x'), { payload: { code: 'aborted', message: 'm' } })), { code: Code.ABORTED, message: 'm' });
  assert.equal(echo.errorStatus(new Error('trap')), undefined);
  assert.equal(echo.errorStatus({ code: 'nope', message: 'm' }), undefined);
  assert.equal(echo.errorStatus({ code: 'ok', message: 'm' })?.code, Code.UNKNOWN);
  assert.equal(echo.exportName, 'mirror');
  assert.equal(echo.jsExportName, 'mirror');
  assert.equal(m.jsName, 'echo');
});

