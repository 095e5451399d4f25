// `workd gen` (AssemblyScript): every scalar type, enums, nested and repeated
// fields round-trip through the generated decode/encode in a real module;
// what it cannot generate is refused naming the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { GUESTS_DIR } from '../helpers/guests.js';
import { compileAssemblyScript } from '../helpers/assemblyscript.js';
import { compileProtoFilesToBinary } from '../../src/images/proto-compile.js';
import { generateAssemblyScript } from '../../src/cli/gen.js';
import { loadComponent } from '../../src/testing/index.js';
import type { JsonObject } from '@bufbuild/protobuf';

const ROOT = join(GUESTS_DIR, '..', '..', '..');
const PROTO = `syntax = "proto3";
package all;
service Mirror { rpc Echo(All) returns (All); }
enum Color { NONE = 0; RED = 1; BLUE = 2; }
message Inner { string name = 1; repeated sint64 deltas = 2; }
message All {
  double d = 1; float f = 2; int64 i64 = 3; uint64 u64 = 4; int32 i32 = 5; fixed64 fx64 = 6; fixed32 fx32 = 7;
  bool b = 8; string s = 9; bytes by = 10; uint32 u32 = 11; sfixed32 sf32 = 12; sfixed64 sf64 = 13;
  sint32 si32 = 14; sint64 si64 = 15; Color color = 16; Inner inner = 17; repeated Inner inners = 18;
  repeated int32 ints = 19; repeated double doubles = 20; repeated string names = 21; repeated Color colors = 22;
}
`;

test('generated AssemblyScript round-trips every field type through a real module', async (t) => {
  // Inside the repository (dist/ is ignored), so the SDK is imported by a relative path as the examples do.
  const dir = mkdtempSync(join(ROOT, 'dist', 'gen-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'all.proto'), PROTO);
  const ds = compileProtoFilesToBinary([join(dir, 'all.proto')]);
  const sdk = relative(dir, join(ROOT, 'sdk', 'assemblyscript'));
  writeFileSync(join(dir, 'all.gen.ts'), generateAssemblyScript(ds, sdk, ['all.proto']));
  writeFileSync(
    join(dir, 'index.ts'),
    `import { All, MirrorService, serveMirror } from "./all.gen";\nexport { workd_alloc } from "${sdk}";\nexport { Echo } from "./all.gen";\n` +
      'class M extends MirrorService { Echo(req: All): All | null { return req; } }\nserveMirror(new M());\n',
  );
  const wasm = await compileAssemblyScript(relative(ROOT, join(dir, 'index.ts')));
  const c = await loadComponent({ wasm, proto: [join(dir, 'all.proto')] });
  t.after(() => c.close());
  const all: JsonObject = {
    d: -1.5, f: 0.25, i64: '-9007199254740993', u64: '18446744073709551615', i32: -7, fx64: '12345678901', fx32: 4000000000,
    b: true, s: 'héllo', by: 'AAEC/w==', u32: 4294967295, sf32: -2, sf64: '-3', si32: -2147483648, si64: '-9223372036854775808',
    color: 'BLUE', inner: { name: 'in', deltas: ['-1', '0', '5'] }, inners: [{ name: 'a' }, {}, { deltas: ['7'] }],
    ints: [0, -1, 300], doubles: [0, 1.5], names: ['', 'x'], colors: ['NONE', 'RED'],
  };
  const r = await c.call('Echo', all);
  assert.equal(r.code, 'OK', r.message);
  assert.deepEqual(r.json, { ...all, inners: [{ name: 'a' }, {}, { deltas: ['7'] }] });
  const empty = await c.call('Echo', {});
  assert.deepEqual(empty.json, {});
});

test('map fields and streaming methods are refused, naming them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'workd-gen-'));
  try {
    writeFileSync(join(dir, 'm.proto'), 'syntax = "proto3";\npackage m;\nservice S { rpc A(M) returns (M); }\nmessage M { map<string, int32> counts = 1; }\n');
    assert.throws(() => generateAssemblyScript(compileProtoFilesToBinary([join(dir, 'm.proto')]), 'sdk'), /m\.M\.counts: map fields are not supported by workd gen yet/);
    writeFileSync(join(dir, 's.proto'), 'syntax = "proto3";\npackage s;\nservice S { rpc A(stream M) returns (M); }\nmessage M { int32 x = 1; }\n');
    assert.throws(() => generateAssemblyScript(compileProtoFilesToBinary([join(dir, 's.proto')]), 'sdk'), /s\.S\/A is a client_streaming method; guest ABI v1 serves unary methods/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
