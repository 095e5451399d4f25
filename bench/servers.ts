// What the benchmarks share to run a server beside the load: the server
// process pinned to CPU 1 (the load goes on CPU 0) when taskset exists, its
// CPU time from /proc, a clean stop, and the real daemon with one running
// WebAssembly echo component created through the CRI, as a kubelet would.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

/** `cmd argv` on the given CPUs when taskset exists. */
export function pinned(cpus: string, cmd: string, argv: string[]): { cmd: string; argv: string[] } {
  return hasTaskset ? { cmd: 'taskset', argv: ['-c', cpus, cmd, ...argv] } : { cmd, argv };
}

/** A server process on CPU 1, stdout piped (for its ready line). */
export function spawnOnCpu1(cmd: string, argv: string[], stderr: 'inherit' | 'ignore' = 'inherit'): ChildProcess {
  const p = pinned('1', cmd, argv);
  return spawn(p.cmd, p.argv, { stdio: ['ignore', 'pipe', stderr] });
}

/** Starts a server on CPU 1 and resolves once its stdout matches `readyRe`. */
export function spawnServer(cmd: string, argv: string[], readyRe: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawnOnCpu1(cmd, argv);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = readyRe.exec(out);
      if (m) resolve({ child, match: m });
    });
    child.once('exit', (code) => reject(new Error(`${argv.join(' ')} exited with ${code} before it was ready`)));
  });
}

export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  child.kill('SIGTERM');
  return exited;
}

const TICK_US = 1e6 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

/** utime + stime of a whole process (all threads) from /proc, in µs. */
export function procCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_US;
}

export interface ComponentDaemon {
  readonly child: ChildProcess;
  /** The ready line's ports (udpPort is 0 without HTTP/3, e.g. with --plaintext). */
  readonly tcpPort: number;
  readonly udpPort: number;
  stop(): Promise<void>;
}

/** `workd serve` on 127.0.0.1 (plus `extraArgs`) with one running container of `example.com:foo.Bar@1.0.0`. */
export async function startComponentDaemon(extraArgs: string[]): Promise<ComponentDaemon> {
  const { criClient } = await import('../test/helpers/cri-client.js');
  const { startComponent } = await import('../test/integration/dataplane-fixture.js');
  const dir = mkdtempSync(join(tmpdir(), 'workd-bench-daemon-'));
  const bin = fileURLToPath(new URL('../../bin/workd.js', import.meta.url));
  // Pods on the node's address (CNI is on by default as root).
  writeFileSync(join(dir, 'config.toml'), '[cni]\nenabled = false\n');
  const args = [bin, 'serve', '--config', join(dir, 'config.toml'), ...extraArgs, '--listen', '127.0.0.1:0', '--cri-socket', join(dir, 'cri.sock'), '--state-dir', join(dir, 'state'), '--log-level', 'warn'];
  const { child, match } = await spawnServer(process.execPath, args, /workd ready (\{.*\})/);
  const stop = async () => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  const ready = JSON.parse(match[1]!) as { tcpPort: number; udpPort: number; criSocket: string };
  const cri = criClient(ready.criSocket);
  try {
    await startComponent(cri, 'example.com:foo.Bar@1.0.0');
  } catch (err) {
    await stop();
    throw err;
  } finally {
    cri.close();
  }
  return { child, tcpPort: ready.tcpPort, udpPort: ready.udpPort, stop };
}
