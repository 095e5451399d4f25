// `workd gen` for AssemblyScript, C and Rust: one .proto with every scalar
// kind, enums, nested, recursive and repeated messages, maps, optional and
// oneof fields round-trips through each language's generated decode/encode in
// a real module; unknown fields are skipped; an error status with its message
// and a trailer reach the caller; what cannot be generated is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { GUESTS_DIR } from '../helpers/guests.js';
import { compileAssemblyScript } from '../helpers/assemblyscript.js';
import { compileProtoFilesToBinary } from '../../src/images/proto-compile.js';
import { generate, type GenLanguage } from '../../src/cli/gen.js';
import { loadComponent } from '../../src/testing/index.js';
import type { JsonObject } from '@bufbuild/protobuf';

const ROOT = join(GUESTS_DIR, '..', '..', '..');
const here = dirname(fileURLToPath(import.meta.url));
const scripts = [join(here, '..', '..', '..'), join(here, '..', '..')].find((d) => existsSync(join(d, 'scripts', 'examples.mjs')))!;
const examples = (await import(pathToFileURL(join(scripts, 'scripts', 'examples.mjs')).href)) as { haveWasiClang(): boolean; wasiRustc(): string | undefined };

const PROTO = `syntax = "proto3";
package all;
service Mirror { rpc Echo(All) returns (All); rpc Refuse(Inner) returns (Inner); }
enum Color { NONE = 0; RED = 1; BLUE = 2; }
message Inner { string name = 1; repeated sint64 deltas = 2; Inner next = 3; }
message All {
  double d = 1; float f = 2; int64 i64 = 3; uint64 u64 = 4; int32 i32 = 5; fixed64 fx64 = 6; fixed32 fx32 = 7;
  bool b = 8; string s = 9; bytes by = 10; uint32 u32 = 11; sfixed32 sf32 = 12; sfixed64 sf64 = 13;
  sint32 si32 = 14; sint64 si64 = 15; Color color = 16; Inner inner = 17; repeated Inner inners = 18;
  repeated int32 ints = 19; repeated double doubles = 20; repeated string names = 21; repeated Color colors = 22;
  map<string, int32> counts = 23; map<int64, Inner> by_id = 24; optional int32 maybe = 25; optional string maybe_s = 26;
  oneof pick { string text = 27; Inner obj = 28; }
  repeated bytes blobs = 29; repeated fixed32 fixeds = 30; repeated sint32 zigzags = 31; map<uint32, Color> shades = 32;
}
`;

// Each implementation: Echo answers the request; Refuse answers NOT_FOUND "no <name> here" and copies x-who to a trailer.
const SOURCES: Record<GenLanguage, (gen: string, sdk: string) => Record<string, string>> = {
  assemblyscript: (gen, sdk) => ({
    'index.ts':
      `import { All, Inner, MirrorService, serveMirror } from "./${gen.replace(/\.ts$/, '')}";\n` +
      `import { metadata, setTrailer, reject, Status } from "${sdk}";\n` +
      `export { workd_alloc } from "${sdk}";\nexport { Echo, Refuse } from "./${gen.replace(/\.ts$/, '')}";\n` +
      'class M extends MirrorService {\n  Echo(req: All): All | null { return req; }\n' +
      '  Refuse(req: Inner): Inner | null { const w = metadata("x-who"); if (w !== null) setTrailer("x-who", w); return reject<Inner>(Status.NOT_FOUND, "no " + req.name + " here"); }\n}\nserveMirror(new M());\n',
  }),
  c: (gen) => ({
    'mirror.c':
      `#include "${gen}"\n` +
      'workd_status all_Mirror_Echo(const all_All *req, all_All *res) { *res = *req; return WORKD_OK; }\n' +
      'workd_status all_Mirror_Refuse(const all_Inner *req, all_Inner *res) {\n' +
      '  workd_bytes who;\n  (void)res;\n  if (workd_metadata("x-who", &who)) workd_set_trailer("x-who", who.ptr, who.len);\n' +
      '  return workd_fail(WORKD_NOT_FOUND, "no %s here", req->name.len ? req->name.ptr : "");\n}\n',
  }),
  rust: (gen) => ({
    'lib.rs':
      `mod ${gen.replace(/\.rs$/, '')};\nuse ${gen.replace(/\.rs$/, '')}::workd::{self, Code, Status};\nuse ${gen.replace(/\.rs$/, '')}::*;\n` +
      'impl MirrorService for MirrorServer {\n    fn echo(req: All) -> Result<All, Status> { Ok(req) }\n' +
      '    fn refuse(req: Inner) -> Result<Inner, Status> {\n        if let Some(w) = workd::metadata("x-who") { workd::set_trailer("x-who", w); }\n' +
      '        Err(Status::new(Code::NOT_FOUND, format!("no {} here", req.name)))\n    }\n}\n',
  }),
};
const GEN_FILE: Record<GenLanguage, string> = { assemblyscript: 'all.gen.ts', c: 'all.gen.h', rust: 'all_gen.rs' };

async function build(lang: GenLanguage, dir: string): Promise<Uint8Array> {
  const ds = compileProtoFilesToBinary([join(dir, 'all.proto')]);
  const sdk = relative(dir, join(ROOT, 'sdk', 'assemblyscript'));
  writeFileSync(join(dir, GEN_FILE[lang]), generate(lang, ds, { only: ['all.proto'], sdk }));
  for (const [name, text] of Object.entries(SOURCES[lang](GEN_FILE[lang], sdk))) writeFileSync(join(dir, name), text);
  const out = join(dir, 'all.wasm');
  if (lang === 'assemblyscript') return compileAssemblyScript(relative(ROOT, join(dir, 'index.ts')));
  // The build lines the README gives.
  const r =
    lang === 'c'
      ? spawnSync('clang', ['--target=wasm32-wasi', '-mexec-model=reactor', '-O2', '-Wall', '-Werror', '-o', out, join(dir, 'mirror.c')], { encoding: 'utf8' })
      : spawnSync(examples.wasiRustc()!, ['--edition', '2021', '--target', 'wasm32-wasi', '--crate-type', 'cdylib', '-O', '-C', 'strip=symbols', '-D', 'warnings', '-o', out, join(dir, 'lib.rs')], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${lang} build failed:\n${r.stderr}`);
  return new Uint8Array(readFileSync(out));
}

const ALL: JsonObject = {
  d: -1.5, f: 0.25, i64: '-9007199254740993', u64: '18446744073709551615', i32: -7, fx64: '12345678901', fx32: 4000000000,
  b: true, s: 'héllo', by: 'AAEC/w==', u32: 4294967295, sf32: -2, sf64: '-3', si32: -2147483648, si64: '-9223372036854775808',
  color: 'BLUE', inner: { name: 'in', deltas: ['-1', '0', '5'], next: { name: 'deeper', next: { name: 'deepest' } } },
  inners: [{ name: 'a' }, {}, { deltas: ['7'] }], ints: [0, -1, 300], doubles: [0, 1.5], names: ['', 'x'], colors: ['NONE', 'RED', 7],
  counts: { a: 1, b: -2, '': 0 }, byId: { '5': { name: 'five' }, '-1': {} }, maybe: 0, maybeS: '', obj: { name: 'picked' },
  blobs: ['', 'AQ=='], fixeds: [1, 4294967295], zigzags: [-1, 1, -2147483648], shades: { '1': 'RED', '2': 'NONE' },
};

/** Unknown fields (numbers the message does not have, of every wire type) appended to a message's bytes. */
const UNKNOWN = Uint8Array.from([
  0xc8, 0x3e, 0x96, 0x01, // field 1001, varint 150
  0xd1, 0x3e, 1, 2, 3, 4, 5, 6, 7, 8, // field 1002, 8 bytes
  0xda, 0x3e, 3, 0x61, 0x62, 0x63, // field 1003, "abc"
  0xe5, 0x3e, 1, 2, 3, 4, // field 1004, 4 bytes
]);

for (const lang of ['assemblyscript', 'c', 'rust'] as const) {
  test(`generated ${lang} round-trips every field kind, skips unknown fields and answers an error status with a trailer`, async (t) => {
    if (lang === 'c' && !examples.haveWasiClang()) return t.skip('clang for wasm32-wasi is not installed (Debian: clang lld wasi-libc libclang-rt-14-dev-wasm32)');
    if (lang === 'rust' && !examples.wasiRustc()) return t.skip('rustc with wasm32-wasi is not installed (Debian: rustc libstd-rust-dev-wasm32)');
    // Inside the repository (dist/ is ignored), so AssemblyScript imports the SDK by a relative path as the examples do.
    mkdirSync(join(ROOT, 'dist'), { recursive: true });
    const dir = mkdtempSync(join(ROOT, 'dist', `gen-test-${lang}-`));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'all.proto'), PROTO);
    const wasm = await build(lang, dir);
    const c = await loadComponent({ wasm, proto: [join(dir, 'all.proto')] });
    t.after(() => c.close());

    const r = await c.call('Echo', ALL);
    assert.equal(r.code, 'OK', r.message);
    assert.deepEqual(r.json, { ...ALL, inners: [{ name: 'a' }, {}, { deltas: ['7'] }] });
    const empty = await c.call('Echo', {});
    assert.deepEqual([empty.code, empty.json], ['OK', {}]);
    // presence: an optional field at its default is still sent back; a oneof member too
    const present = await c.call('Echo', { maybe: 0, text: '' });
    assert.deepEqual(present.json, { maybe: 0, text: '' });

    const plain = await c.call('Echo', { s: 'x', inner: { name: 'n' } });
    const inner = Uint8Array.from([0x0a, 1, 0x6e, ...UNKNOWN]);
    const withUnknown = Uint8Array.from([...UNKNOWN, 0x4a, 1, 0x78, 0x8a, 0x01, inner.length, ...inner, ...UNKNOWN]);
    const skipped = await c.call('Echo', withUnknown);
    assert.equal(skipped.code, 'OK', skipped.message);
    assert.deepEqual(skipped.json, plain.json);
    assert.deepEqual(skipped.json, { s: 'x', inner: { name: 'n' } });

    const bad = await c.call('Echo', Uint8Array.of(0x8a, 0x01, 0x05, 0x0a));
    assert.deepEqual([bad.code, bad.message], ['INVALID_ARGUMENT', 'malformed all.All']);

    const refused = await c.call('Refuse', { name: 'ann' }, { metadata: { 'x-who': 'tester' } });
    assert.deepEqual([refused.code, refused.message, refused.trailers['x-who']], ['NOT_FOUND', 'no ann here', 'tester']);
  });
}

test('streaming methods, groups and well-known types are refused, naming them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'workd-gen-'));
  try {
    writeFileSync(join(dir, 's.proto'), 'syntax = "proto3";\npackage s;\nservice S { rpc A(stream M) returns (M); }\nmessage M { int32 x = 1; }\n');
    assert.throws(() => generate('c', compileProtoFilesToBinary([join(dir, 's.proto')])), /s\.S\/A is a client_streaming method; guest ABI v1 serves unary methods/);
    writeFileSync(join(dir, 'w.proto'), 'syntax = "proto3";\npackage w;\nimport "google/protobuf/timestamp.proto";\nservice S { rpc A(M) returns (M); }\nmessage M { google.protobuf.Timestamp at = 1; }\n');
    assert.throws(() => generate('rust', compileProtoFilesToBinary([join(dir, 'w.proto')])), /google\.protobuf\.Timestamp: a well-known type/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the C and Rust methods in docs/gen.md build with its lines from `workd gen` output and answer', async (t) => {
  const doc = readFileSync(join(ROOT, 'docs', 'gen.md'), 'utf8');
  const dir = mkdtempSync(join(tmpdir(), 'workd-gen-doc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'cart.proto'), readFileSync(join(ROOT, 'examples', 'cart', 'cart.proto')));
  mkdirSync(join(dir, 'src'));
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'workd.js'), 'gen', ...args], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  };
  const builds: [string, string[]][] = [];
  if (examples.haveWasiClang()) {
    writeFileSync(join(dir, 'cart.c'), /```c\n([\s\S]*?)```/.exec(doc)![1]!);
    cli(['--lang', 'c', '--proto', 'cart.proto', '-o', 'cart.gen.h']);
    builds.push(['clang', ['--target=wasm32-wasi', '-mexec-model=reactor', '-O2', '-o', 'c.wasm', 'cart.c']]);
  }
  if (examples.wasiRustc()) {
    writeFileSync(join(dir, 'src', 'lib.rs'), /```rust\n([\s\S]*?)```/.exec(doc)![1]!);
    cli(['--lang', 'rust', '--proto', 'cart.proto', '-o', 'src/cart_gen.rs']);
    builds.push([examples.wasiRustc()!, ['--edition', '2021', '--target', 'wasm32-wasi', '--crate-type', 'cdylib', '-O', '-C', 'strip=symbols', '-o', 'r.wasm', 'src/lib.rs']]);
  }
  if (builds.length === 0) return t.skip('neither clang for wasm32-wasi nor rustc with wasm32-wasi is installed');
  for (const [cmd, args] of builds) {
    const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, `${cmd} failed:\n${r.stderr}`);
    const c = await loadComponent({ wasm: join(dir, args[args.indexOf('-o') + 1]!), proto: [join(dir, 'cart.proto')] });
    t.after(() => c.close());
    const ok = await c.call('AddItem', { items: [{ sku: 'x', quantity: 1 }], item: { sku: 'a1', quantity: 2 } }, { metadata: { 'x-user': 'ann' } });
    assert.equal(ok.code, 'OK', ok.message);
    assert.deepEqual(ok.json, { items: [{ sku: 'x', quantity: 1 }, { sku: 'a1', quantity: 2 }], count: 2 });
    assert.equal(ok.logs.length, 1);
    assert.match(ok.logs[0]!.text, /^ann added /);
    const missing = await c.call('AddItem', {});
    assert.deepEqual([missing.code, missing.message], ['INVALID_ARGUMENT', 'item is missing']);
  }
});
