// The daemon's side of the socket helper (socket-helper.py): one python3 process,
// started on first use and again if it dies, that opens sockets inside a pod's
// network namespace and passes them back over the IPC channel, where Node turns
// them into a listening net.Server or a bound dgram.Socket. A TCP socket from
// it is bound only: listen() here is what makes the port accept. It also runs
// the CNI plugins (`runPlugin`, a cni/exec.ts PluginRunner).
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket as UdpSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import type { Server } from 'node:net';
import { Code, WorkdError } from '../errors.js';
import { MAX_OUTPUT, type PluginRun } from './cni/exec.js';
import type { Logger } from '../observability/log.js';

/** dist/src/network/socket-helper.js → src/network/socket-helper.py (tsc does not copy it). */
export const HELPER_SCRIPT = fileURLToPath(new URL('../../../src/network/socket-helper.py', import.meta.url));

/** The helper's answer to an exec (socket-helper.py run_plugin). */
interface RunAnswer {
  code: number | null;
  stdout: string;
  stderr: string;
  timed_out: boolean;
  spawn_error: string | null;
}

/** Past the plugin's own timeout (the helper kills it then), how long to wait for the helper's answer. */
const EXEC_ANSWER_MARGIN_MS = 5000;

interface Pending {
  resolve(answer: Server | UdpSocket | RunAnswer | undefined): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class SocketHelper {
  private child: ChildProcess | undefined;
  private next = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  /** Set when the helper cannot be run at all (no python3). */
  private broken: string | undefined;

  constructor(
    private readonly log: Logger,
    private readonly timeoutMs: number,
    private readonly python = 'python3',
  ) {}

  private start(): ChildProcess {
    if (this.child) return this.child;
    const child = spawn(this.python, ['-u', HELPER_SCRIPT], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'], serialization: 'json' });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-4000)));
    child.on('message', (msg: { id?: number; error?: string; ok?: boolean; run?: RunAnswer }, handle?: Server | UdpSocket) => {
      const p = msg.id === undefined ? undefined : this.pending.get(msg.id);
      if (!p) {
        (handle as { close?: () => void } | undefined)?.close?.();
        return;
      }
      this.pending.delete(msg.id!);
      clearTimeout(p.timer);
      if (msg.run) p.resolve(msg.run);
      else if (handle || msg.ok) p.resolve(handle);
      else p.reject(new WorkdError(Code.INTERNAL, `socket helper: ${msg.error ?? 'answered without a socket'}`));
    });
    const gone = (why: string) => {
      if (this.child !== child) return;
      this.child = undefined;
      const err = new WorkdError(Code.UNAVAILABLE, `socket helper ${why}${stderr ? `: ${stderr.trim()}` : ''}`);
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(err);
        this.pending.delete(id);
      }
      if (!this.closed) this.log.warn({ err: err.message }, 'socket helper stopped; the next pod socket starts a new one');
    };
    child.on('error', (e) => {
      this.broken = `the socket helper could not be run: ${this.python}: ${e.message} (pod networking needs python3)`;
      gone(this.broken);
    });
    child.on('exit', (code, signal) => gone(`exited (${signal ?? code})`));
    // Not a reason to keep the daemon alive.
    child.unref();
    (child.channel as { unref?: () => void } | undefined)?.unref?.();
    this.child = child;
    return child;
  }

  private ask<T extends Server | UdpSocket | RunAnswer | undefined>(req: Record<string, unknown>, timeoutMs = this.timeoutMs): Promise<T> {
    if (this.closed) return Promise.reject(new WorkdError(Code.UNAVAILABLE, 'socket helper: the daemon is shutting down'));
    const child = this.start();
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new WorkdError(Code.DEADLINE_EXCEEDED, `socket helper: no answer to ${String(req.op)} ${String(req.netns ?? req.path)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as Pending['resolve'], reject, timer });
      child.send({ ...req, id }, (err) => {
        if (!err) return;
        const p = this.pending.get(id);
        if (!p) return;
        this.pending.delete(id);
        clearTimeout(p.timer);
        reject(new WorkdError(Code.UNAVAILABLE, `socket helper: ${err.message}`));
      });
    });
  }

  /** Starts the helper ahead of its first use. */
  warm(): void {
    if (!this.closed) this.start();
  }

  /** Why the helper cannot run, or undefined. */
  unavailable(): string | undefined {
    return this.broken;
  }

  /** A TCP server on [::]:port (dual-stack) inside the namespace at `netns`, listening. */
  tcp(netns: string, port: number): Promise<Server> {
    return this.ask<Server>({ op: 'tcp', netns, port });
  }

  /** A UDP socket bound to [::]:port inside the namespace at `netns`. */
  udp(netns: string, port: number): Promise<UdpSocket> {
    return this.ask<UdpSocket>({ op: 'udp', netns, port });
  }

  /** Creates a named network namespace at `path` (/run/netns/NAME), as `ip netns add` does. */
  async netnsAdd(path: string): Promise<void> {
    await this.ask<undefined>({ op: 'netns-add', netns: path });
  }

  /** Removes the name at `path` (the namespace ends with its last socket); one already gone is no error. */
  async netnsDelete(path: string): Promise<void> {
    await this.ask<undefined>({ op: 'netns-del', netns: path });
  }

  /** Runs a CNI plugin from the helper (a cni/exec.ts PluginRunner): the env is the helper's plus `cniEnv`. */
  readonly runPlugin = async (path: string, cniEnv: Readonly<Record<string, string>>, stdin: string, timeoutMs: number): Promise<PluginRun> => {
    const r = await this.ask<RunAnswer>({ op: 'exec', path, env: cniEnv, stdin, timeout_ms: timeoutMs, max_output: MAX_OUTPUT }, timeoutMs + EXEC_ANSWER_MARGIN_MS);
    return { code: r.code, stdout: r.stdout, stderr: r.stderr, timedOut: r.timed_out, ...(r.spawn_error !== null ? { spawnError: new Error(r.spawn_error) } : {}) };
  };

  close(): void {
    this.closed = true;
    this.child?.kill('SIGTERM');
    this.child = undefined;
  }
}
