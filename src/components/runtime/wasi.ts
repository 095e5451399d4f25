// The imports a component gets (runs inside a worker thread), in the shape
// jco's generated glue calls them: WASI 0.2 granting exactly what guest ABI v1
// grants — stdout/stderr to the container log, the environment and args,
// clocks, random — and `workd:grpc/call` (trailers). Every other interface the
// component imports gets functions that deny: an error result where the
// function returns one (filesystem `access`, sockets `access-denied`, HTTP
// `HTTP-request-denied`), a failed call naming the import otherwise. There are
// no preopened directories and no stdin.
//
// Resources handed to the guest are counted: the glue keeps a table of them,
// so a call that created one leaves the glue's state changed (see instance.ts).
import { webcrypto } from 'node:crypto';
import { GuestExit, HostCallError, setTrailer, type EncodedStrings, type Holder } from '../../wasm/host.js';

/**
 * The resources handed to the guest during a call. jco's glue keeps a table of
 * handles per resource type; the guest gets the same handle numbers on the
 * next call only if every resource of this call was dropped, last created
 * first dropped. Each resource also carries a rep (jco's `cabiRep`) counted
 * from 1 per call, so the glue's record of reps is the same after every call.
 */
export class HostTracker {
  private readonly live: object[] = [];
  private created = 0;
  private disorder = false;

  /** A new resource: its rep. */
  add(r: object): number {
    this.live.push(r);
    return ++this.created;
  }

  /** A resource the guest gets again and again (a standard stream): same object, same handle, not a leak. */
  keep(r: object): void {
    const i = this.live.lastIndexOf(r);
    if (i >= 0) this.live.splice(i, 1);
  }

  drop(r: object): void {
    if (this.live[this.live.length - 1] === r) this.live.pop();
    else {
      const i = this.live.indexOf(r);
      if (i >= 0) this.live.splice(i, 1);
      this.disorder = true;
    }
  }

  /** Whether the glue's handle tables are as the call found them (for what the guest can see). */
  clean(): boolean {
    return this.live.length === 0 && !this.disorder;
  }

  reset(): void {
    this.live.length = 0;
    this.created = 0;
    this.disorder = false;
  }
}

const CABI_REP = Symbol.for('cabiRep');
/** Reps of the standard streams, apart from the per-call ones (below jco's T_FLAG bit, 1 << 30, which it masks off). */
const STD_REP = 0x1000_0000;
/** jco's glue calls this when the guest drops a resource it owned. */
const DISPOSE = Symbol.dispose ?? Symbol.for('dispose');

/** WASI's stream-error `closed`, as jco lowers a thrown value into a result's error. */
const CLOSED = { tag: 'closed' } as const;
/** A call may block (a sleep) at most this long per poll; its CPU limit and deadline stop it earlier. */
const sleeper = new Int32Array(new SharedArrayBuffer(4));

const utf8 = new TextDecoder();

/** `KEY=VALUE\0` strings (host.ts's encoding) back into pairs, once per container context. */
const decoded = new WeakMap<EncodedStrings, string[]>();
function strings(e: EncodedStrings): string[] {
  let out = decoded.get(e);
  if (!out) {
    out = [];
    for (let i = 0; i < e.offsets.length; i++) {
      const end = i + 1 < e.offsets.length ? e.offsets[i + 1]! - 1 : e.bytes.length - 1;
      out.push(utf8.decode(e.bytes.subarray(e.offsets[i], end)));
    }
    decoded.set(e, out);
  }
  return out;
}

/** Denial payloads of the interfaces whose functions return `result<_, error-code>`. */
const DENIALS: [prefix: string, payload: unknown][] = [
  ['wasi:filesystem/', 'access'],
  ['wasi:sockets/', 'access-denied'],
  ['wasi:http/', { tag: 'HTTP-request-denied' }],
];

/** Interfaces with real implementations (the version is not part of jco's import key). */
export const GRANTED = new Set([
  'wasi:cli/environment', 'wasi:cli/exit', 'wasi:cli/stdin', 'wasi:cli/stdout', 'wasi:cli/stderr',
  'wasi:cli/terminal-input', 'wasi:cli/terminal-output', 'wasi:cli/terminal-stdin', 'wasi:cli/terminal-stdout', 'wasi:cli/terminal-stderr',
  'wasi:clocks/monotonic-clock', 'wasi:clocks/wall-clock', 'wasi:io/error', 'wasi:io/poll', 'wasi:io/streams',
  'wasi:random/random', 'wasi:random/insecure', 'wasi:random/insecure-seed', 'wasi:filesystem/preopens', 'workd:grpc/call',
]);

/** The import key jco's glue uses: the interface name without its version. */
export const importKey = (name: string) => name.replace(/@[^/]*$/, '');

/** An interface that is not granted: each function denies, each resource type exists but is never handed out. */
function denied(iface: string, own: Record<string, unknown> = {}): Record<string, unknown> {
  const payload = DENIALS.find(([p]) => iface.startsWith(p))?.[1];
  return new Proxy({ ...own }, {
    get(target, p) {
      if (typeof p !== 'string') return undefined;
      const prop = p;
      if (!(prop in target)) {
        target[prop] = /^[A-Z]/.test(prop)
          ? class Denied {
              constructor() {
                throw new HostCallError(`${iface}: ${prop} is not granted to components on this node`);
              }
            }
          : (..._args: unknown[]) => {
              // jco turns a thrown non-Error into the err case of a result-returning function.
              if (payload !== undefined) throw payload;
              throw new HostCallError(`${iface}.${prop} is not granted to components on this node`);
            };
      }
      return target[prop];
    },
  });
}

/**
 * The import object for one glue instance. `holder.cur` is the call in progress
 * (its output, environment, trailers); `tracker` counts what the guest was given.
 */
export function createComponentImports(holder: Holder, tracker: HostTracker, wanted: readonly string[]): Record<string, unknown> {
  const cur = () => holder.cur;

  /** What every resource handed to the guest is. */
  class Resource {
    [CABI_REP]: number;
    constructor() {
      this[CABI_REP] = tracker.add(this);
    }
    [DISPOSE](): void {
      tracker.drop(this);
      for (const fd of [0, 1, 2] as const) if ((std[fd] as unknown) === this) delete std[fd];
    }
  }
  /**
   * The standard streams are one object each for as long as the guest holds
   * them: WASI's preview1 adapter (inside componentize-js and most toolchains'
   * output) takes them on first use and keeps them in its state, which the
   * reset forgets; asking again then gets the same handle, as on the first call.
   */
  const std: { 0?: InputStream; 1?: OutputStream; 2?: OutputStream } = {};
  const stdStream = <T extends Resource>(fd: 0 | 1 | 2, make: () => T): T => {
    const r = ((std as Record<number, T | undefined>)[fd] ??= make());
    tracker.keep(r);
    r[CABI_REP] = STD_REP + fd;
    return r;
  };

  class Pollable extends Resource {
    constructor(private readonly at: bigint = 0n) {
      super();
    }
    ready(): boolean {
      return process.hrtime.bigint() >= this.at;
    }
    block(): void {
      const left = this.at - process.hrtime.bigint();
      if (left > 0n) Atomics.wait(sleeper, 0, 0, Number(left / 1_000_000n) + 1);
    }
  }
  class IoError extends Resource {
    constructor(private readonly text: string) {
      super();
    }
    toDebugString(): string {
      return this.text;
    }
  }
  class InputStream extends Resource {
    read(): Uint8Array {
      throw CLOSED;
    }
    blockingRead(): Uint8Array {
      throw CLOSED;
    }
    skip(): bigint {
      throw CLOSED;
    }
    blockingSkip(): bigint {
      throw CLOSED;
    }
    subscribe(): Pollable {
      return new Pollable();
    }
  }
  class OutputStream extends Resource {
    constructor(private readonly fd: 1 | 2) {
      super();
    }
    checkWrite(): bigint {
      return 1n << 20n;
    }
    write(contents: Uint8Array): void {
      const c = cur();
      (this.fd === 1 ? c.stdout : c.stderr).push(contents);
      c.mirror?.write(this.fd, contents);
    }
    blockingWriteAndFlush(contents: Uint8Array): void {
      this.write(contents);
    }
    flush(): void {}
    blockingFlush(): void {}
    writeZeroes(n: bigint): void {
      this.write(new Uint8Array(Number(n)));
    }
    blockingWriteZeroesAndFlush(n: bigint): void {
      this.writeZeroes(n);
    }
    splice(): bigint {
      throw CLOSED;
    }
    blockingSplice(): bigint {
      throw CLOSED;
    }
    subscribe(): Pollable {
      return new Pollable();
    }
  }
  class TerminalInput {}
  class TerminalOutput {}

  const monoNow = () => process.hrtime.bigint();
  const granted: Record<string, Record<string, unknown>> = {
    'wasi:cli/environment': {
      getEnvironment: () => {
        holder.envRead = true;
        return strings(cur().env).map((s) => {
          const eq = s.indexOf('=');
          return eq < 0 ? [s, ''] : [s.slice(0, eq), s.slice(eq + 1)];
        });
      },
      getArguments: () => {
        holder.envRead = true;
        return strings(cur().args);
      },
      initialCwd: () => undefined,
    },
    'wasi:cli/exit': {
      exit: (status: { tag: string }) => {
        throw new GuestExit(status.tag === 'ok' ? 0 : 1);
      },
      exitWithCode: (code: number) => {
        throw new GuestExit(code);
      },
    },
    'wasi:cli/stdin': { getStdin: () => stdStream(0, () => new InputStream()) },
    'wasi:cli/stdout': { getStdout: () => stdStream(1, () => new OutputStream(1)) },
    'wasi:cli/stderr': { getStderr: () => stdStream(2, () => new OutputStream(2)) },
    'wasi:cli/terminal-input': { TerminalInput },
    'wasi:cli/terminal-output': { TerminalOutput },
    'wasi:cli/terminal-stdin': { getTerminalStdin: () => undefined },
    'wasi:cli/terminal-stdout': { getTerminalStdout: () => undefined },
    'wasi:cli/terminal-stderr': { getTerminalStderr: () => undefined },
    'wasi:clocks/monotonic-clock': {
      now: monoNow,
      resolution: () => 1000n,
      subscribeInstant: (when: bigint) => new Pollable(when),
      subscribeDuration: (d: bigint) => new Pollable(monoNow() + d),
    },
    'wasi:clocks/wall-clock': {
      now: () => {
        const ms = performance.timeOrigin + performance.now();
        const seconds = Math.floor(ms / 1000);
        return { seconds: BigInt(seconds), nanoseconds: Math.floor((ms - seconds * 1000) * 1e6) };
      },
      resolution: () => ({ seconds: 0n, nanoseconds: 1000 }),
    },
    'wasi:io/error': { Error: IoError },
    'wasi:io/poll': {
      Pollable,
      poll: (list: Pollable[]) => {
        for (;;) {
          const ready = list.flatMap((p, i) => (p.ready() ? [i] : []));
          if (ready.length > 0) return new Uint32Array(ready);
          list[0]?.block();
        }
      },
    },
    'wasi:io/streams': { InputStream, OutputStream },
    'wasi:random/random': {
      getRandomBytes: (len: bigint) => random(Number(len)),
      getRandomU64: () => new BigUint64Array(random(8).buffer)[0]!,
    },
    'wasi:random/insecure': {
      getInsecureRandomBytes: (len: bigint) => random(Number(len)),
      getInsecureRandomU64: () => new BigUint64Array(random(8).buffer)[0]!,
    },
    'wasi:random/insecure-seed': {
      insecureSeed: () => {
        const b = new BigUint64Array(random(16).buffer);
        return [b[0]!, b[1]!];
      },
    },
    'wasi:filesystem/preopens': { getDirectories: () => [] },
    // No descriptor is ever handed out (no preopens), so nothing here can be reached but the error-code probe.
    'wasi:filesystem/types': denied('wasi:filesystem/types', { filesystemErrorCode: () => undefined }),
    'workd:grpc/call': {
      addTrailer: (key: string, value: string) => {
        const raw = key.endsWith('-bin') ? base64(key, value) : new Uint8Array(Buffer.from(value, 'latin1'));
        setTrailer(cur(), 'add-trailer', key, raw);
      },
    },
  };
  const imports: Record<string, unknown> = {};
  for (const name of wanted) {
    const key = importKey(name);
    imports[key] = granted[key] ?? denied(key);
  }
  return imports;
}

function random(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) webcrypto.getRandomValues(out.subarray(i, Math.min(i + 65536, n)));
  return out;
}

function base64(key: string, value: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new HostCallError(`add-trailer: the value of ${key} is not base64 (a -bin trailer carries its bytes base64-encoded)`);
  return new Uint8Array(Buffer.from(value, 'base64'));
}

