// workd/testing: run a component in-process, without a node — no daemon, CRI,
// registry or network. The module goes through the node's own validator and
// executor (the same limits, isolation and log format), so what passes here
// behaves the same on a node. Documented in docs/testing.md.
//
//   import { loadComponent } from 'workd/testing';
//   const cart = await loadComponent({ wasm: 'build/cart.wasm', proto: ['cart.proto'] });
//   const r = await cart.call('AddItem', { sku: 'a1', quantity: 2 }, { metadata: { 'x-user': 'ann' } });
//   assert.equal(r.code, 'OK'); assert.deepEqual(r.json, { items: [...] }); r.logs; r.trailers
//   await cart.close();
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary, fromJson, toBinary, toJson, type DescMessage, type JsonValue } from '@bufbuild/protobuf';
import type { FileRegistry } from '@bufbuild/protobuf';
import { defaultConfig } from '../config.js';
import { Code, codeName, invalidArgument } from '../errors.js';
import { createLogger } from '../observability/log.js';
import { parseDescriptorSet } from '../images/proto-compile.js';
import { readWasmFile } from '../images/build.js';
import { checkComponent, defaultComponentName, readDescriptors, readImageLayout, type CheckedComponent } from '../cli/component.js';
import { checkAbiVersion } from '../wasm/guest-abi.js';
import { createExecutor } from '../wasm/executor.js';
import type { ContainerRuntime, Executor, MetadataEntry } from '../wasm/api.js';

export interface LoadOptions {
  /** An OCI image layout directory (from `workd image build`); or give `wasm` and `proto`. */
  readonly image?: string;
  /** The module: a path or its bytes. */
  readonly wasm?: string | Uint8Array;
  /** The service's .proto files (with `wasm`). */
  readonly proto?: readonly string[];
  /** Import directories for the .proto files (protoc's -I). */
  readonly protoPath?: readonly string[];
  /** e.g. `example.com:shop.Cart@1.0.0`; default (with `wasm`): `localhost:<the one service>@0.0.0`. */
  readonly component?: string;
  /** The container's environment and args (what CRI `envs`, `command` + `args` give). */
  readonly env?: Readonly<Record<string, string>>;
  readonly args?: readonly string[];
  /** Defaults: the node's (executor.memory_limit_bytes, cpu_ms_per_call). */
  readonly memoryLimitBytes?: number;
  readonly cpuMsPerCall?: number;
}

export interface CallOptions {
  /** Request metadata; keys lowercase; `-bin` keys take bytes. */
  readonly metadata?: Readonly<Record<string, string | Uint8Array>> | readonly MetadataEntry[];
  /** The caller's deadline. */
  readonly timeoutMs?: number;
}

export interface LogLine {
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
  /** False for a partial line (no newline at the end of the call, or longer than 16 KiB). */
  readonly full: boolean;
}

export interface CallResult {
  /** gRPC status code, 0 = OK. */
  readonly status: number;
  /** Its name: `OK`, `NOT_FOUND`, ... */
  readonly code: string;
  /** The status message (grpc-message) of a failed call. */
  readonly message: string;
  /** The response message's bytes (OK only). */
  readonly response?: Uint8Array;
  /** The response decoded to protobuf JSON by the service's descriptors (OK only). */
  readonly json?: JsonValue;
  /** The trailers the guest set; `-bin` values as bytes. */
  readonly trailers: Readonly<Record<string, string | Uint8Array>>;
  /** What the call wrote to stdout and stderr. */
  readonly logs: readonly LogLine[];
  readonly ms: number;
}

let started = 0;

/** One running component, in this process. */
export class LocalComponent {
  private logOffset = 0;
  private readonly registry: FileRegistry;
  /** Lines written while the container started (its initialisation). */
  startLogs: readonly LogLine[] = [];

  private constructor(
    readonly checked: CheckedComponent,
    private readonly executor: Executor,
    /** The running container (what the data plane routes to). */
    readonly runtime: ContainerRuntime,
    private readonly dir: string,
  ) {
    this.registry = parseDescriptorSet(checked.descriptorSet).registry;
  }

  /** The component's full name, e.g. `example.com:shop.Cart@1.0.0`. */
  get component(): string {
    return this.checked.component.name;
  }
  /** The methods the module exports. */
  get methods(): readonly string[] {
    return this.checked.report.methods;
  }
  /** Legal but likely wrong, as `workd image build` warns. */
  get warnings(): readonly string[] {
    return this.checked.report.warnings;
  }

  /** Starts `checked` on `executor` (owned by the result from now on). */
  static async start(checked: CheckedComponent, executor: Executor, o: Pick<LoadOptions, 'env' | 'args' | 'memoryLimitBytes' | 'cpuMsPerCall'> = {}, abiVersion = 1): Promise<LocalComponent> {
    const dir = await mkdtemp(join(tmpdir(), 'workd-local-'));
    try {
      const module = await executor.prepare(`local:${Date.now()}:${Math.random()}`, checked.wasm, abiVersion);
      const runtime = await executor.start({
        containerId: `${checked.component.name}#${++started}`,
        module,
        env: o.env ?? {},
        args: o.args,
        limits: { memoryBytes: o.memoryLimitBytes, cpuMsPerCall: o.cpuMsPerCall },
        logPath: join(dir, 'container.log'),
      });
      const c = new LocalComponent(checked, executor, runtime, dir);
      c.startLogs = await c.newLogLines();
      return c;
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  private method(name: string): { input: DescMessage; output: DescMessage } | undefined {
    const m = this.registry.getService(this.checked.component.service)?.methods.find((x) => x.name === name);
    return m && { input: m.input, output: m.output };
  }

  /** Encodes a request given as protobuf JSON (an object) for `method`; bytes pass through. */
  encode(method: string, request: JsonValue | Uint8Array | undefined): Uint8Array {
    if (request instanceof Uint8Array) return request;
    const m = this.method(method);
    if (!m) throw invalidArgument(`service ${this.checked.component.service} has no rpc ${method} (it has ${this.checked.rpcs.join(', ')})`);
    try {
      return toBinary(m.input, fromJson(m.input, request ?? {}, { registry: this.registry }));
    } catch (err) {
      throw invalidArgument(`the request does not fit ${m.input.typeName}: ${(err as Error).message}`);
    }
  }

  /** Calls `method` with a request (protobuf JSON or bytes) and metadata, as a client on a node would. */
  async call(method: string, request?: JsonValue | Uint8Array, opts: CallOptions = {}): Promise<CallResult> {
    const bytes = this.encode(method, request);
    const metadata: MetadataEntry[] = Array.isArray(opts.metadata)
      ? [...(opts.metadata as readonly MetadataEntry[])]
      : Object.entries((opts.metadata ?? {}) as Record<string, string | Uint8Array>).map(([k, v]) => [k.toLowerCase(), v] as const);
    const t0 = performance.now();
    const r = await this.runtime.call({
      method,
      request: bytes,
      metadata,
      deadline: opts.timeoutMs !== undefined ? t0 + opts.timeoutMs : undefined,
    });
    const ms = performance.now() - t0;
    const m = this.method(method);
    let json: JsonValue | undefined;
    if (r.status === Code.OK && m) json = toJson(m.output, fromBinary(m.output, r.response ?? new Uint8Array()), { registry: this.registry });
    const trailers: Record<string, string | Uint8Array> = {};
    for (const [k, v] of r.trailers) trailers[k] = v;
    return {
      status: r.status,
      code: codeName(r.status),
      message: r.message,
      response: r.status === Code.OK ? (r.response ?? new Uint8Array()) : undefined,
      json,
      trailers,
      logs: await this.newLogLines(),
      ms,
    };
  }

  /** The log lines written since the last look (the container log, in CRI format). */
  async newLogLines(): Promise<LogLine[]> {
    await this.runtime.reopenLog(); // writes out what is queued
    const fh = await open(join(this.dir, 'container.log'), 'r').catch(() => undefined);
    if (!fh) return [];
    try {
      const { size } = await fh.stat();
      if (size <= this.logOffset) return [];
      const buf = Buffer.alloc(size - this.logOffset);
      await fh.read(buf, 0, buf.length, this.logOffset);
      this.logOffset = size;
      return parseCriLog(buf.toString('utf8'));
    } finally {
      await fh.close();
    }
  }

  /** Stops the container; the executor stays (for the next one, as `workd dev` reloads). */
  async stop(): Promise<void> {
    await this.runtime.stop(1000);
    await rm(this.dir, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    await this.stop();
    await this.executor.close();
  }
}

/** `<time> <stream> <F|P> <text>` lines → LogLine. */
export function parseCriLog(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of text.split('\n')) {
    const m = /^\S+ (stdout|stderr) ([FP]) (.*)$/.exec(line);
    if (m) out.push({ stream: m[1] as 'stdout' | 'stderr', full: m[2] === 'F', text: m[3]! });
  }
  return out;
}

/** Reads and checks a component's sources (image layout, or .wasm + .proto) as `workd image build` would. */
export async function readComponent(o: LoadOptions): Promise<{ checked: CheckedComponent; abiVersion: number }> {
  const limit = o.memoryLimitBytes ?? defaultConfig().executor.memoryLimitBytes;
  if (o.image !== undefined) {
    if (o.wasm !== undefined || o.proto !== undefined) throw invalidArgument('give either an image layout or a .wasm with its .proto files, not both');
    const img = await readImageLayout(o.image);
    checkAbiVersion(img.abiVersion);
    return { checked: checkComponent(img.wasm, img.descriptorSet, o.component ?? img.component, limit), abiVersion: img.abiVersion };
  }
  if (o.wasm === undefined) throw invalidArgument('give an image layout (image) or a module (wasm) with its .proto files (proto)');
  const wasm = typeof o.wasm === 'string' ? await readWasmFile(o.wasm) : o.wasm;
  const descriptorSet = await readDescriptors({ protoFiles: o.proto ? [...o.proto] : undefined, protoIncludeDirs: o.protoPath });
  return { checked: checkComponent(wasm, descriptorSet, o.component ?? defaultComponentName(descriptorSet), limit), abiVersion: 1 };
}

/**
 * Loads a component and starts it in this process. Throws the error
 * StartContainer would give for a module that does not load.
 */
export async function loadComponent(o: LoadOptions): Promise<LocalComponent> {
  const { checked, abiVersion } = await readComponent(o);
  const executor = localExecutor(o);
  try {
    return await LocalComponent.start(checked, executor, o, abiVersion);
  } catch (err) {
    await executor.close();
    throw err;
  }
}

/** An executor with the node's settings (one worker) for components run in this process. */
export function localExecutor(o: Pick<LoadOptions, 'memoryLimitBytes' | 'cpuMsPerCall'> = {}): Executor {
  const d = defaultConfig().executor;
  return createExecutor(
    { ...d, workers: 1, memoryLimitBytes: o.memoryLimitBytes ?? d.memoryLimitBytes, cpuMsPerCall: o.cpuMsPerCall ?? d.cpuMsPerCall },
    createLogger('silent'),
  );
}
