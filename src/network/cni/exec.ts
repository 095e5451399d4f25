// Runs one CNI plugin binary: found by its `type` in the plugin directories, the
// CNI_* variables in its environment, its configuration on stdin, its answer (or
// its error object) on stdout. A plugin that does not exit within the timeout is
// killed and the run fails with DEADLINE_EXCEEDED.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { CniError, pluginError } from './errors.js';
import type { CniCommand, CniErrorBody } from './spec.js';

/** What one run is about: the runtime's CNI_* environment (SPEC.md "Parameters"). */
export interface Invocation {
  readonly command: CniCommand;
  readonly containerId?: string;
  readonly netns?: string;
  readonly ifname?: string;
  /** CNI_ARGS: `K=V` pairs joined with `;`. */
  readonly args?: Readonly<Record<string, string>>;
}

/** How one plugin run ended. */
export interface PluginRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly spawnError?: Error;
}

/**
 * Starts `path` with the CNI variables `cniEnv` added to the environment and `stdin` as its
 * input, and kills it after `timeoutMs`. The daemon runs plugins through its socket helper
 * (socket-helper.ts): a fork of a big process copies its page tables, ~5 ms per 100 MB of RSS
 * here, twice or more per pod; the helper is small and its python3 starts children with vfork.
 */
export type PluginRunner = (path: string, cniEnv: Readonly<Record<string, string>>, stdin: string, timeoutMs: number) => Promise<PluginRun>;

export interface ExecOptions {
  /** Directories searched in order for the plugin binary; also CNI_PATH. */
  readonly binDirs: readonly string[];
  /** limits.ts cniPluginTimeoutMs. */
  readonly timeoutMs: number;
  /** Default: spawnPlugin, from this process. */
  readonly run?: PluginRunner;
}

/** Largest stdout or stderr kept from one plugin run (a result is a few KiB); the socket helper is told the same. */
export const MAX_OUTPUT = 1 << 20;

/** The plugin's binary path, or undefined when no directory has it. */
export function findPlugin(type: string, binDirs: readonly string[]): string | undefined {
  // A type is a file name: a path in it would let a config run any binary on the node.
  if (type === '' || type.includes('/') || type === '.' || type === '..') return undefined;
  for (const dir of binDirs) {
    const p = join(dir, type);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next directory */
    }
  }
  return undefined;
}

/** Runs `type` with `stdin` as its configuration; resolves with its parsed stdout (undefined when empty). */
export async function execPlugin(type: string, network: string, inv: Invocation, stdin: unknown, opts: ExecOptions): Promise<unknown> {
  const path = findPlugin(type, opts.binDirs);
  if (!path) {
    throw new CniError('missing-plugin', `CNI plugin ${JSON.stringify(type)} of network ${JSON.stringify(network)} not found in ${opts.binDirs.join(', ')}`, undefined, type, inv.command);
  }
  const env: Record<string, string> = { CNI_COMMAND: inv.command, CNI_PATH: opts.binDirs.join(':') };
  if (inv.containerId !== undefined) env.CNI_CONTAINERID = inv.containerId;
  if (inv.netns !== undefined) env.CNI_NETNS = inv.netns;
  if (inv.ifname !== undefined) env.CNI_IFNAME = inv.ifname;
  if (inv.args && Object.keys(inv.args).length > 0) env.CNI_ARGS = Object.entries(inv.args).map(([k, v]) => `${k}=${v}`).join(';');
  const { code, stdout, stderr, timedOut, spawnError } = await (opts.run ?? spawnPlugin)(path, env, JSON.stringify(stdin), opts.timeoutMs);
  const what = `CNI plugin ${type} ${inv.command} (network ${JSON.stringify(network)})`;
  if (timedOut) throw new CniError('timeout', `${what} did not finish within ${opts.timeoutMs} ms and was killed`, undefined, type, inv.command);
  if (spawnError) throw new CniError('missing-plugin', `${what} could not be started: ${spawnError.message}`, undefined, type, inv.command);
  if (code !== 0) {
    const body = errorBody(stdout);
    if (body) throw pluginError(type, inv.command, network, body);
    const text = (stderr.trim() || stdout.trim() || 'no output').slice(-2000);
    throw new CniError('bad-output', `${what} exited with ${code === null ? 'a signal' : `status ${code}`}: ${text}`, undefined, type, inv.command);
  }
  if (stdout.trim() === '') return undefined;
  try {
    return JSON.parse(stdout);
  } catch {
    throw new CniError('bad-output', `${what} succeeded but its output is not JSON: ${stdout.slice(0, 200)}`, undefined, type, inv.command);
  }
}

/** The default runner: a child of this process. */
export function spawnPlugin(path: string, cniEnv: Readonly<Record<string, string>>, stdin: string, timeoutMs: number): Promise<PluginRun> {
  return new Promise((resolve) => {
    const child = spawn(path, [], { env: { ...process.env, ...cniEnv }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timedOut = false;
    let spawnError: Error | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
      // A child of the plugin may hold its stdout open past the kill: answer now rather than at 'close'.
      resolve({ code: null, stdout: out, stderr: err, timedOut, spawnError });
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (s: string) => { if (out.length < MAX_OUTPUT) out += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { if (err.length < MAX_OUTPUT) err += s; });
    child.on('error', (e) => (spawnError = e));
    // A plugin that exits without reading its stdin makes the write fail with EPIPE: its exit status tells what happened.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: out, stderr: err, timedOut, spawnError });
    });
  });
}

function errorBody(stdout: string): CniErrorBody | undefined {
  try {
    const v = JSON.parse(stdout) as Partial<CniErrorBody>;
    if (typeof v.code === 'number' && typeof v.msg === 'string') return { code: v.code, msg: v.msg, details: typeof v.details === 'string' ? v.details : undefined };
  } catch {
    /* not an error object */
  }
  return undefined;
}
