// The commands `kubectl exec`, `crictl exec` and exec probes can run in a
// component container. A component has no shell and no processes, so workd
// answers a small fixed set itself, about the container it was asked for.
import { Writable } from 'node:stream';
import { Code, WorkdError } from '../errors.js';
import type { CommandIO, CommandResult } from './remotecommand.js';

/** What the commands need to know about, and do to, one container. */
export interface ExecTarget {
  readonly containerId: string;
  /** Why the container does not serve calls now, or undefined when it does. */
  notServing(): string | undefined;
  /** gRPC paths the container serves, e.g. `/example.foo.Bar/Add`. */
  methods(): readonly string[];
  /** Calls admitted and not yet finished. */
  inFlight(): number;
  env(): Readonly<Record<string, string>>;
  /** One call to this container (not any other of its component) through the data plane; JSON in, JSON out. */
  call(method: string, json: string, signal: AbortSignal): Promise<{ readonly code: number; readonly codeName: string; readonly message: string; readonly json?: string }>;
}

export const BUILTIN_COMMANDS: readonly { readonly usage: string; readonly doc: string }[] = [
  { usage: 'health', doc: 'exit 0 when the container is serving calls, 1 otherwise (for exec probes)' },
  { usage: 'methods', doc: 'the gRPC methods the container serves, one per line' },
  { usage: 'calls', doc: 'the number of calls in flight' },
  { usage: 'call METHOD [JSON]', doc: 'one call to this container; JSON request from the argument or stdin ({} if neither); prints the JSON answer' },
  { usage: 'env', doc: 'the container environment, NAME=value per line' },
  { usage: 'help', doc: 'this list' },
];

/** Exit code of a command that does not exist, as a shell answers. */
export const EXIT_NOT_FOUND = 127;

function helpText(): string {
  const width = Math.max(...BUILTIN_COMMANDS.map((c) => c.usage.length));
  return BUILTIN_COMMANDS.map((c) => `  ${c.usage.padEnd(width)}  ${c.doc}`).join('\n') + '\n';
}

function print(w: Writable | undefined, text: string): Promise<void> {
  if (!w || text === '') return Promise.resolve();
  return new Promise((done) => w.write(text, () => done()));
}

async function readAll(io: CommandIO, max: number): Promise<string> {
  if (!io.stdin) return '';
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of io.stdin) {
    size += (chunk as Buffer).length;
    if (size > max) throw new WorkdError(Code.INVALID_ARGUMENT, `stdin is larger than ${max} bytes`);
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** Runs one built-in command against the target, writing to the session's streams; `call` reads at most maxStdin bytes. */
export async function runBuiltin(target: ExecTarget, cmd: readonly string[], io: CommandIO, maxStdin: number): Promise<CommandResult> {
  const [name = '', ...args] = cmd;
  const out = io.stdout;
  // With a tty there is no stderr: errors go where the user looks.
  const err = io.stderr ?? io.stdout;
  const exit = (exitCode: number): CommandResult => ({ exitCode, command: cmd.join(' ') });
  switch (name) {
    case 'health': {
      const why = target.notServing();
      if (why === undefined) {
        await print(out, 'serving\n');
        return exit(0);
      }
      await print(err, `not serving: ${why}\n`);
      return exit(1);
    }
    case 'methods':
      await print(out, target.methods().map((m) => `${m}\n`).join(''));
      return exit(0);
    case 'calls':
      await print(out, `${target.inFlight()}\n`);
      return exit(0);
    case 'env':
      await print(
        out,
        Object.entries(target.env())
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([k, v]) => `${k}=${v}\n`)
          .join(''),
      );
      return exit(0);
    case 'help':
      await print(out, `Built-in commands of a workd component container:\n${helpText()}`);
      return exit(0);
    case 'call': {
      const method = args[0];
      if (method === undefined || args.length > 2) {
        await print(err, 'usage: call METHOD [JSON]   (METHOD as listed by `methods`, or its last part)\n');
        return exit(2);
      }
      let json = args[1];
      if (json === undefined) json = (await readAll(io, maxStdin)).trim() || '{}';
      const r = await target.call(method, json, io.signal);
      if (r.code !== 0) {
        await print(err, `ERROR: ${r.codeName}: ${r.message}\n`);
        return exit(1);
      }
      await print(out, `${r.json ?? '{}'}\n`);
      return exit(0);
    }
    default:
      await print(
        err,
        `workd: ${JSON.stringify(name)}: command not found. A WebAssembly component container has no shell or programs; ` +
          `workd answers these built-in commands:\n${helpText()}`,
      );
      return exit(EXIT_NOT_FOUND);
  }
}

/** A Writable that keeps what is written, up to a cap (the rest is counted, not kept). */
class Collector extends Writable {
  private parts: Buffer[] = [];
  private size = 0;
  dropped = 0;

  constructor(private readonly cap: number) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    const room = this.cap - this.size;
    if (room > 0) {
      const kept = chunk.subarray(0, room);
      this.parts.push(kept);
      this.size += kept.length;
    }
    this.dropped += Math.max(0, chunk.length - Math.max(0, room));
    done();
  }

  get bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/**
 * CRI ExecSync: runs a built-in command and collects its output. A timeout
 * (seconds, 0 = none) that passes answers DEADLINE_EXCEEDED, which the
 * kubelet's prober reads as a probe timeout.
 */
export async function execSync(
  target: ExecTarget,
  cmd: readonly string[],
  timeoutSec: number,
  limits: { readonly maxOutput: number; readonly maxStdin: number },
): Promise<{ stdout: Buffer; stderr: Buffer; exitCode: number }> {
  const stdout = new Collector(limits.maxOutput);
  const stderr = new Collector(limits.maxOutput);
  const abort = new AbortController();
  const io: CommandIO = { stdout, stderr, tty: false, signal: abort.signal };
  const work = runBuiltin(target, cmd, io, limits.maxStdin);
  let timer: NodeJS.Timeout | undefined;
  const result = await (timeoutSec > 0
    ? Promise.race([
        work,
        new Promise<'timeout'>((done) => {
          timer = setTimeout(() => done('timeout'), timeoutSec * 1000);
        }),
      ])
    : work);
  clearTimeout(timer);
  if (result === 'timeout') {
    abort.abort();
    throw new WorkdError(Code.DEADLINE_EXCEEDED, `ExecSync: command ${JSON.stringify(cmd.join(' '))} in container ${target.containerId} timed out after ${timeoutSec}s`);
  }
  const exitCode = 'exitCode' in result ? result.exitCode : 1;
  return { stdout: stdout.bytes, stderr: stderr.bytes, exitCode };
}
