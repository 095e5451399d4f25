// The AssemblyScript SDK as a new author installs it: by path with npm, the
// README's asconfig.json and build line, then `workd image build`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WORKD_BIN } from '../helpers/daemon.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

test('the SDK installs by path, and the documented build lines produce a module the node accepts', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'workd-sdk-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `${cmd} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
    return r;
  };
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'cart', version: '1.0.0', private: true }));
  run('npm', ['install', '--no-audit', '--no-fund', '--offline', join(ROOT, 'sdk', 'assemblyscript'), join(ROOT, 'node_modules', 'assemblyscript')]);
  writeFileSync(join(dir, 'asconfig.json'), '{ "extends": "./node_modules/workd-assemblyscript/asconfig.json" }\n');
  mkdirSync(join(dir, 'assembly'));
  writeFileSync(
    join(dir, 'assembly', 'index.ts'),
    'import { respond, Writer } from "workd-assemblyscript";\nexport { workd_alloc } from "workd-assemblyscript";\n' +
      'export function Ping(ptr: i32, len: i32): i32 {\n  assert(len >= 0, "negative length");\n  const w = new Writer();\n  w.string(1, "pong");\n  return respond(w.finish());\n}\n',
  );
  writeFileSync(join(dir, 'ping.proto'), 'syntax = "proto3";\npackage t;\nservice P { rpc Ping(E) returns (R); }\nmessage E {}\nmessage R { string s = 1; }\n');
  const asc = join(dir, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
  const build = (wasm: string) =>
    spawnSync(process.execPath, [WORKD_BIN, 'image', 'build', '--wasm', wasm, '--proto', 'ping.proto', '--component', 'example.com:t.P@1.0.0', '-o', `img-${wasm}`], { cwd: dir, encoding: 'utf8' });

  run(process.execPath, [asc, 'assembly/index.ts', '-o', 'a.wasm', '--target', 'release']);
  assert.equal(build('a.wasm').status, 0, 'with the SDK asconfig.json');
  rmSync(join(dir, 'asconfig.json'));
  run(process.execPath, [asc, 'assembly/index.ts', '-o', 'b.wasm', '--runtime', 'stub', '-O3', '--use', 'abort=~lib/workd-assemblyscript/abi/workdAbort']);
  assert.equal(build('b.wasm').status, 0, 'with the options spelled out');
  // Without the abort option the module imports env.abort: refused, naming the fix.
  run(process.execPath, [asc, 'assembly/index.ts', '-o', 'c.wasm', '--runtime', 'stub']);
  const refused = build('c.wasm');
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /import env\.abort: .*extend the SDK's asconfig\.json, or build with --use abort=~lib\/workd-assemblyscript\/abi\/workdAbort/);
});
