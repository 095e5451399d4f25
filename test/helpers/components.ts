// Builds test components from WAT (test/fixtures/components/): the core module
// compiled by wabt, the world printed from the fixture's .proto by `workd wit`'s
// mapping plus the WASI interfaces the module imports, embedded and wrapped into
// a component by jco's wasm-tools commands.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { componentEmbed, componentNew } from '@bytecodealliance/jco-transpile/wasm-tools';
import { compileProtoFilesToBinary, parseDescriptorSet } from '../../src/images/proto-compile.js';
import { witText } from '../../src/components/wit/index.js';
import type { ContainerRuntime, Executor, StartOptions } from '../../src/wasm/api.js';
import { GUESTS_DIR, watToWasm } from './guests.js';

export const COMPONENTS_DIR = join(GUESTS_DIR, '..', 'components');

/** Just the parts of WASI 0.2 the fixtures use (wit-parser takes several packages in one text). */
const WASI_STDOUT = `
package wasi:io@0.2.0 {
  interface error { resource error; }
  interface streams {
    use error.{error};
    variant stream-error { last-operation-failed(error), closed }
    resource output-stream {
      blocking-write-and-flush: func(contents: list<u8>) -> result<_, stream-error>;
    }
  }
}
package wasi:cli@0.2.0 {
  interface stdout {
    use wasi:io/streams@0.2.0.{output-stream};
    get-stdout: func() -> output-stream;
  }
}
`;

export interface TestComponent {
  readonly wasm: Uint8Array;
  readonly descriptorSet: Uint8Array;
  readonly service: string;
}

const cache = new Map<string, Promise<TestComponent>>();

/** test/fixtures/components/<name>.wat + <name>.proto → a component of the proto's one service. */
export function fixtureComponent(name: string, service: string): Promise<TestComponent> {
  let p = cache.get(name);
  if (!p) {
    p = (async () => {
      const descriptorSet = compileProtoFilesToBinary([join(COMPONENTS_DIR, `${name}.proto`)]);
      const world = witText(parseDescriptorSet(descriptorSet).registry, { services: [service] });
      const worldName = /\bworld ([a-z0-9-]+) \{/.exec(world)![1]!;
      const wit = world.replace(`world ${worldName} {`, `world ${worldName} {\n  import wasi:cli/stdout@0.2.0;`) + WASI_STDOUT;
      const core = await watToWasm(readFileSync(join(COMPONENTS_DIR, `${name}.wat`), 'utf8'), `${name}.wat`);
      const embedded = await componentEmbed({ binary: core, witSource: wit, world: worldName, stringEncoding: 'utf8' });
      return { wasm: await componentNew(embedded, undefined), descriptorSet, service };
    })();
    cache.set(name, p);
  }
  return p;
}

let n = 0;
/** Prepares a component as an image and starts one container of it. */
export async function startComponent(
  ex: Executor,
  c: TestComponent,
  opts: Partial<Omit<StartOptions, 'module'>> & { imageId?: string } = {},
): Promise<ContainerRuntime> {
  const module = await ex.prepare(opts.imageId ?? `sha256:component-${n++}`, c.wasm, 1, { descriptorSet: c.descriptorSet, service: c.service });
  return ex.start({ containerId: opts.containerId ?? `component-${n++}`, module, env: opts.env ?? {}, args: opts.args, limits: opts.limits ?? {}, logPath: opts.logPath });
}

/** A component exporting `world` of `wit` whose functions trap: what wasm-tools makes of the WIT. */
export async function dummyComponent(wit: string, world: string): Promise<Uint8Array> {
  return componentNew(await componentEmbed({ dummy: true, witSource: wit, world }));
}
