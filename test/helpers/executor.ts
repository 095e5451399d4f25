// Starts a real executor (worker threads) with test-sized limits.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createExecutor } from '../../src/wasm/executor.js';
import { createLogger } from '../../src/observability/log.js';
import type { Config } from '../../src/config.js';
import type { ContainerRuntime, Executor, GuestResult, StartOptions } from '../../src/wasm/api.js';

export function testExecutor(over: Partial<Config['executor']> = {}): Executor {
  return createExecutor({ workers: 2, memoryLimitBytes: 16 * 1024 * 1024, cpuMsPerCall: 1000, maxInFlight: 1024, ...over }, createLogger('silent'));
}

let n = 0;
/** Prepares `wasm` as an image and starts one container of it. */
export async function startGuest(
  ex: Executor,
  wasm: Uint8Array,
  opts: Partial<Omit<StartOptions, 'module'>> & { imageId?: string } = {},
): Promise<ContainerRuntime> {
  const module = await ex.prepare(opts.imageId ?? `sha256:test-${n++}`, wasm, 1);
  return ex.start({ containerId: opts.containerId ?? `c${n++}`, module, env: opts.env ?? {}, args: opts.args, limits: opts.limits ?? {}, logPath: opts.logPath });
}

export const utf8 = (s: string) => new TextEncoder().encode(s);
export const text = (r: GuestResult) => new TextDecoder().decode(r.response ?? new Uint8Array());
export const tempDir = (prefix = 'workd-exec-') => mkdtempSync(join(tmpdir(), prefix));
