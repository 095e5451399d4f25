import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dummyComponent } from '../../../test/helpers/components.js';
import { compileProtoFiles, compileProtoFilesToBinary, parseDescriptorSet } from '../../images/proto-compile.js';
import { Code, WorkdError } from '../../errors.js';
import { mapService, type ServiceWorld } from './mapping.js';
import { witFile } from './print.js';
import { jsName, kebab, witIdent } from './names.js';
import { parseWorld, readComponentWorld, worldMismatches } from './check.js';
import { witText, worldsFor } from './index.js';

const FIX = 'test/fixtures/wit';
const registryOf = (file: string) => parseDescriptorSet(compileProtoFilesToBinary([`${FIX}/${file}`])).registry;

test('names: proto identifiers become WIT kebab-case, keywords are %-escaped, jco names are camelCase', () => {
  assert.equal(kebab('AddFloats'), 'add-floats');
  assert.equal(kebab('order_id'), 'order-id');
  assert.equal(kebab('HTTPServer'), 'http-server');
  assert.equal(kebab('value_2d'), 'value2d');
  assert.equal(kebab('int32_value'), 'int32-value');
  assert.equal(kebab('getURLForID'), 'get-url-for-id');
  assert.equal(kebab('Outer', 'Inner'), 'outer-inner');
  assert.equal(witIdent('type'), '%type');
  assert.equal(witIdent('list'), '%list');
  assert.equal(witIdent('order'), 'order');
  assert.equal(jsName('type-url'), 'typeUrl');
  assert.equal(jsName('value2d'), 'value2d');
});

test('the shop world: records, lists, options, oneof variants, enums, maps, wrappers, Struct as JSON, recursion as bytes', () => {
  const wit = witText(registryOf('shop.proto'), { files: ['shop.proto'] });
  for (const line of [
    'package proto:shop-v1;',
    'world shop {',
    'import workd:grpc/call@0.1.0;',
    'export shop: interface {',
    'enum color {\n      unspecified,\n      red,\n      deep-blue,\n    }',
    'record order-line {\n      sku: string,\n      quantity: u32,\n      color: color,\n    }',
    'variant order-payment {\n      card(string),\n      voucher(list<u8>),\n      cash,\n    }',
    'note: option<string>,',
    'discounts: list<tuple<string, s64>>,',
    'payment: option<order-payment>,',
    'placed: option<google-protobuf-timestamp>,',
    'priority: option<s32>,',
    'extra: option<string>,',
    '%type: u64,',
    'weights: list<f32>,',
    'by-number: list<tuple<u32, order-line>>,',
    'express: bool,',
    'children: list<list<u8>>,',
    'parent: option<list<u8>>,',
    'place-order: func(ctx: grpc-context, request: order) -> result<receipt, grpc-status>;',
    'ping: func(ctx: grpc-context) -> result<_, grpc-status>;',
    '%list: func(ctx: grpc-context, request: category) -> result<category, grpc-status>;',
    'add-trailer: func(key: string, value: string);',
  ]) {
    assert.ok(wit.includes(line), `the WIT has ${JSON.stringify(line)}:\n${wit}`);
  }
});

test('the printed WIT is valid: wasm-tools builds a component of it, whose world matches the mapping exactly', async () => {
  for (const [file, service] of [['shop.proto', 'shop.v1.Shop'], ['legacy.proto', 'legacy.Ledger'], ['echo.proto', 'echo.v1.Mirror']] as const) {
    const world = mapService(registryOf(file), service);
    const comp = await dummyComponent(witFile([world]), world.worldName);
    const got = await readComponentWorld(comp);
    assert.deepEqual(got.exports, [world.exportName]);
    assert.deepEqual(got.imports, ['workd:grpc/call@0.1.0']);
    assert.deepEqual(worldMismatches(world, got), [], file);
  }
});

test('proto2: required and defaulted fields are plain, optional ones are options, closed enums keep their names', () => {
  const wit = witText(registryOf('legacy.proto'), {});
  assert.match(wit, /account: string,/);
  assert.match(wit, /amount: option<s32>,/);
  assert.match(wit, /retries: s32, \/\/ default 3/);
  assert.match(wit, /kind: kind, \/\/ default credit/);
  assert.match(wit, /enum kind \{\n\s+debit,\n\s+credit,\n\s+\}/);
  assert.match(wit, /tags: list<s32>,/);
  assert.match(wit, /reversal: option<list<u8>>, \/\/ protobuf encoding of legacy.Entry \(recursive\)/);
});

test('streaming rpcs are refused by name', () => {
  assert.throws(
    () => mapService(registryOf('stream.proto'), 'chat.v1.Chat'),
    (e: unknown) =>
      e instanceof WorkdError && e.code === Code.INVALID_ARGUMENT &&
      e.message.includes('rpc chat.v1.Chat/Listen is server-streaming') && e.message.includes('rpc chat.v1.Chat/Talk is bidi-streaming') && !e.message.includes('Say'),
  );
});

test('two proto names that become one WIT name are refused naming both', async () => {
  const { writeFile, mkdtemp, rm } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'workd-wit-'));
  try {
    await writeFile(join(dir, 'c.proto'), 'syntax = "proto3"; package c; message A { int32 foo_bar = 1; int32 fooBar = 2; } service S { rpc M(A) returns (A); }');
    assert.throws(() => mapService(parseDescriptorSet(compileProtoFilesToBinary([join(dir, 'c.proto')])).registry, 'c.S'), /field foo_bar and field fooBar of message c.A both become the WIT field foo-bar/);
    await writeFile(join(dir, 'd.proto'), 'syntax = "proto3"; package d; message GrpcStatus { int32 x = 1; } service S { rpc M(GrpcStatus) returns (GrpcStatus); }');
    assert.throws(() => mapService(parseDescriptorSet(compileProtoFilesToBinary([join(dir, 'd.proto')])).registry, 'd.S'), /workd's grpc-status and message d.GrpcStatus both become the WIT type grpc-status/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a component whose world differs is told which function or type is wrong', async () => {
  const world: ServiceWorld = mapService(registryOf('shop.proto'), 'shop.v1.Shop');
  const wit = witFile([world]);
  const check = async (from: string, to: string) => {
    assert.ok(wit.includes(from), from);
    return worldMismatches(world, await readComponentWorld(await dummyComponent(wit.replace(from, to), 'shop')));
  };
  assert.deepEqual(await check('quantity: u32', 'quantity: s32'), [
    'type order-line (used by place-order) differs: the component has `record order-line{sku:string,quantity:s32,color:color}`, the .proto gives `record order-line{sku:string,quantity:u32,color:color}`',
  ]);
  assert.deepEqual(await check('    ping: func(ctx: grpc-context) -> result<_, grpc-status>;', ''), ['function ping (rpc shop.v1.Shop/Ping) is not exported by the component']);
  const wrong = await check('ping: func(ctx: grpc-context) -> result<_, grpc-status>', 'ping: func(ctx: grpc-context) -> result<receipt, grpc-status>');
  assert.equal(wrong.length, 1);
  assert.match(wrong[0]!, /^function ping \(rpc shop.v1.Shop\/Ping\) has the wrong type: the component has `ping:func\(ctx:grpc-context\)->result<receipt,grpc-status>`/);
  assert.deepEqual(await check('export shop: interface', 'export store: interface'), [
    'the component does not export the interface "shop" of service shop.v1.Shop (it exports "store"); build it against the world `workd wit` prints',
  ]);
});

test('a component world is read from wasm-tools\' printed WIT, imports and exports as the Wasm OCI config lists them', () => {
  const w = parseWorld(`package root:component;

world root {
  import wasi:cli/environment@0.2.3;
  import wasi:io/streams@0.2.3;
  import log: func(msg: string);

  export shop: interface {
    record a {
      x: u32,
    }

    f: func(a: a) -> a;
  }
  export wasi:http/incoming-handler@0.2.3;
}
`);
  assert.deepEqual(w.imports, ['wasi:cli/environment@0.2.3', 'wasi:io/streams@0.2.3', 'log']);
  assert.deepEqual(w.exports, ['shop', 'wasi:http/incoming-handler@0.2.3']);
  assert.deepEqual([...w.interfaces.get('shop')!], [['a', 'record a{x:u32}'], ['f', 'f:func(a:a)->a']]);
});

test('worldsFor picks the services of the files named, or those asked for', () => {
  const set = compileProtoFiles([`${FIX}/shop.proto`, `${FIX}/legacy.proto`]);
  assert.ok(set.file.length > 2);
  const registry = parseDescriptorSet(compileProtoFilesToBinary([`${FIX}/shop.proto`, `${FIX}/legacy.proto`])).registry;
  assert.deepEqual(worldsFor(registry, { files: [`${FIX}/legacy.proto`] }).map((w) => w.service.typeName), ['legacy.Ledger']);
  assert.deepEqual(worldsFor(registry, { services: ['shop.v1.Shop'] }).map((w) => w.worldName), ['shop']);
  assert.throws(() => worldsFor(registry, { files: ['google/protobuf/empty.proto'] }), /no service is defined in google\/protobuf\/empty.proto/);
});
