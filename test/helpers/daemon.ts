// Starts a real `workd serve` process for a test, on a fresh temp dir, with the
// data plane on 127.0.0.1:0, and waits for its `workd ready {…}` line.
//
//   const d = await startDaemon();                       // or startDaemon({ args: ['--plaintext'] })
//   const cri = criClient(d.criSocket);                  // test/helpers/cri-client.ts
//   ... d.ready.tcpPort, d.stateDir, d.logs() ...
//   cri.close(); await d.stop();                         // SIGTERM, waits for exit, removes the temp dir
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ReadyInfo } from '../../src/daemon.js';

export type { ReadyInfo };

/** dist/test/helpers/daemon.js → <root>/bin/workd.js */
export const WORKD_BIN = fileURLToPath(new URL('../../../bin/workd.js', import.meta.url));

export interface DaemonOptions {
  /** Extra `workd serve` flags, after the defaults below (later flags win). */
  readonly args?: readonly string[];
  /** TOML written to <dir>/config.toml and passed as --config. */
  readonly configToml?: string;
  /** Use this CRI socket path instead of <dir>/cri.sock (e.g. to test two daemons on one socket). */
  readonly criSocket?: string;
  /** Use this state dir instead of <dir>/state (e.g. to restart on the same images). */
  readonly stateDir?: string;
  /** Log level (default `debug`, so logs() shows each CRI call). */
  readonly logLevel?: string;
  /** Extra environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Flags for node itself (V8 flags such as --trace-gc-nvp, which NODE_OPTIONS refuses). */
  readonly nodeArgs?: readonly string[];
  /** A command the daemon runs under, e.g. ['prlimit', '--nofile=600'] (node and its arguments follow). */
  readonly launcher?: readonly string[];
  /** How long to wait for the ready line (default 20 s). */
  readonly readyTimeoutMs?: number;
}

export interface TestDaemon {
  /** The temp dir holding the socket, state dir and config (removed by stop()). */
  readonly dir: string;
  readonly criSocket: string;
  readonly stateDir: string;
  /** The parsed ready line: criSocket, stateDir, listen, tcpPort, udpPort, version, pid, … */
  readonly ready: ReadyInfo;
  readonly process: ChildProcess;
  /** Everything the daemon wrote to stdout so far (banner, ready line). */
  stdout(): string;
  /** Everything the daemon wrote to stderr so far (JSON log lines). */
  logs(): string;
  /** Parsed JSON log lines (non-JSON lines skipped). */
  logRecords(): Array<Record<string, unknown>>;
  /** Waits until a log record satisfies `match` (logs are written asynchronously); rejects after timeoutMs (default 5 s). */
  waitForLog(match: (record: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Sends `signal` (default SIGTERM), waits for exit (SIGKILL after 10 s), removes the temp dir. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const live = new Set<TestDaemon>();
// A test that crashes before stop() must not leave daemons behind.
process.once('exit', () => {
  for (const d of live) d.process.kill('SIGKILL');
});

export async function startDaemon(opts: DaemonOptions = {}): Promise<TestDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'workd-test-'));
  const criSocket = opts.criSocket ?? join(dir, 'cri.sock');
  const stateDir = opts.stateDir ?? join(dir, 'state');
  const args = [...(opts.nodeArgs ?? []), WORKD_BIN, 'serve', '--cri-socket', criSocket, '--state-dir', stateDir, '--listen', '127.0.0.1:0', '--log-level', opts.logLevel ?? 'debug'];
  // CNI is on by default as root: a test that wants pod networks says so in its [cni] table, others get none.
  const toml = opts.configToml ?? '';
  writeFileSync(join(dir, 'config.toml'), /^\s*\[cni\]/m.test(toml) ? toml : `${toml}\n[cni]\nenabled = false\n`);
  args.push('--config', join(dir, 'config.toml'));
  args.push(...(opts.args ?? []));

  const [cmd, ...pre] = [...(opts.launcher ?? []), process.execPath];
  const child = spawn(cmd!, [...pre, ...args], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => done({ code, signal })),
  );

  const ready = await new Promise<ReadyInfo>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => fail(new Error(`workd did not print its ready line within ${opts.readyTimeoutMs ?? 20_000} ms`)), opts.readyTimeoutMs ?? 20_000);
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      reject(new Error(`${e.message}\n--- stdout ---\n${out}\n--- stderr ---\n${err}`));
    };
    const check = () => {
      const m = /^workd ready (\{.*\})$/m.exec(out);
      if (!m || settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout!.off('data', check);
      resolve(JSON.parse(m[1]!) as ReadyInfo);
    };
    child.stdout!.on('data', check);
    void exited.then(({ code, signal }) => fail(new Error(`workd exited (code ${code}, signal ${signal}) before it was ready`)));
  });

  let stopped: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  const daemon: TestDaemon = {
    dir,
    criSocket,
    stateDir,
    ready,
    process: child,
    stdout: () => out,
    logs: () => err,
    logRecords: () =>
      err.split('\n').flatMap((line) => {
        try {
          return line.startsWith('{') ? [JSON.parse(line) as Record<string, unknown>] : [];
        } catch {
          return [];
        }
      }),
    async waitForLog(match, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const hit = daemon.logRecords().find(match);
        if (hit) return hit;
        if (Date.now() > until) throw new Error(`no matching log record within ${timeoutMs} ms; logs:\n${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop(signal = 'SIGTERM') {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        const result = await exited;
        clearTimeout(killer);
        live.delete(daemon);
        rmSync(dir, { recursive: true, force: true });
        return result;
      })();
      return stopped;
    },
  };
  live.add(daemon);
  return daemon;
}
