// `workd wit` and `workd image build` with a component, as an author runs them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WORKD_BIN } from '../helpers/daemon.js';
import { dummyComponent } from '../helpers/components.js';

const run = async (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
  try {
    const r = await promisify(execFile)(process.execPath, [WORKD_BIN, ...args]);
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};

test('workd wit prints a world an author builds against; workd image build takes the component and refuses a wrong one', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'workd-wit-cli-'));
  try {
    const w = await run(['wit', 'test/fixtures/wit/shop.proto']);
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout, /^package proto:shop-v1;$/m);
    assert.match(w.stdout, /place-order: func\(ctx: grpc-context, request: order\) -> result<receipt, grpc-status>;/);
    await writeFile(join(dir, 'shop.wit'), w.stdout);
    const o = await run(['wit', 'test/fixtures/wit/shop.proto', '-o', join(dir, 'out.wit')]);
    assert.equal(o.code, 0, o.stderr);
    assert.equal(await readFile(join(dir, 'out.wit'), 'utf8'), w.stdout);

    const good = join(dir, 'good.wasm');
    await writeFile(good, await dummyComponent(w.stdout, 'shop'));
    const b = await run(['image', 'build', '--wasm', good, '--proto', 'test/fixtures/wit/shop.proto', '--component', 'example.com:shop.v1.Shop@1.0.0', '-o', join(dir, 'img')]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /built example\.com:shop\.v1\.Shop@1\.0\.0 \(a component\)/);

    const bad = join(dir, 'bad.wasm');
    await writeFile(bad, await dummyComponent(w.stdout.replace('%list: func(ctx: grpc-context, request: category) -> result<category, grpc-status>;', ''), 'shop'));
    const r = await run(['image', 'build', '--wasm', bad, '--proto', 'test/fixtures/wit/shop.proto', '--component', 'example.com:shop.v1.Shop@1.0.0', '-o', join(dir, 'img2')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /function %list \(rpc shop\.v1\.Shop\/list\) is not exported by the component/);

    const s = await run(['wit', 'test/fixtures/wit/stream.proto']);
    assert.equal(s.code, 1);
    assert.match(s.stderr, /rpc chat\.v1\.Chat\/Listen is server-streaming; rpc chat\.v1\.Chat\/Talk is bidi-streaming: components serve unary rpcs only/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
