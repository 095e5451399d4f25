// A real containerd (Debian's 1.6, with runc and the CNI plugins) for tests of
// the downstream runtime, with everything of its own under one temp dir: root,
// state, socket, CNI config and IPAM state, a bridge with a unique name. A
// loopback docker-registry holds a small busybox OCI image (Debian's
// busybox-static, packed by umoci, pushed by skopeo) under the names critest
// and the kubelet use, and containerd's mirrors point registry.k8s.io at it.
//
//   const reg = await startImageRegistry();               // busybox + pause, pushed once
//   const c = await startContainerd({ registry: reg });    // c.socket, c.endpoint
//   ...
//   await c.stop(); await reg.stop();
//
// Needs root (containerd mounts, network namespaces) and the Debian packages
// listed in .ci/run; containerdUnavailable() says what is missing.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, link, mkdir, mkdtemp, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startRegistry, type TestRegistry } from './registry.js';

const run = promisify(execFile);

const NEEDED = ['/usr/bin/containerd', '/usr/sbin/runc', '/usr/bin/containerd-shim-runc-v2', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/usr/lib/cni/loopback', '/bin/busybox', '/usr/bin/umoci', '/usr/bin/skopeo'];

/** Why containerd tests cannot run here, or undefined when they can. */
export function containerdUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'containerd tests need root (mounts, network namespaces)';
  const missing = NEEDED.filter((p) => !existsSync(p) && !existsSync(p.replace('/usr/sbin/', '/usr/bin/')));
  return missing.length > 0 ? `missing ${missing.join(', ')} (install the Debian packages listed in .ci/run)` : undefined;
}

/** The busybox image's names: what critest pulls by default, and containerd's sandbox image. */
export const BUSYBOX_IMAGE = 'registry.k8s.io/e2e-test-images/busybox:1.29-2';
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.6';

export interface ImageRegistry {
  readonly registry: TestRegistry;
  /** `http://127.0.0.1:PORT`, the mirror endpoint for registry.k8s.io. */
  readonly endpoint: string;
  /** Pushes the busybox image under another name (`registry.k8s.io/<path>:<tag>` → `<path>:<tag>` here). */
  push(name: string, opts?: { entrypoint?: readonly string[] }): Promise<void>;
  stop(): Promise<void>;
}

/** `registry.k8s.io/a/b:t` → `a/b:t`: the path the mirror serves it under. */
function mirrorPath(name: string): string {
  const slash = name.indexOf('/');
  return slash > 0 && /[.:]/.test(name.slice(0, slash)) ? name.slice(slash + 1) : name;
}

/** An OCI layout holding busybox-static with every applet linked, /bin/sh as its shell. */
async function buildBusyboxLayout(dir: string): Promise<string> {
  const rootfs = join(dir, 'rootfs');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  for (const d of ['etc', 'tmp', 'proc', 'sys', 'dev', 'root', 'var', 'usr/bin', 'usr/sbin', 'sbin']) await mkdir(join(rootfs, d), { recursive: true });
  await chmod(join(rootfs, 'tmp'), 0o1777);
  const busybox = join(rootfs, 'bin', 'busybox');
  await copyFile('/bin/busybox', busybox);
  await chmod(busybox, 0o755);
  const { stdout } = await run(busybox, ['--list']);
  for (const applet of stdout.split('\n').filter((a) => a && a !== 'busybox')) await link(busybox, join(rootfs, 'bin', applet));
  await writeFile(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  await writeFile(join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  const layout = join(dir, 'layout');
  await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', `${layout}:base`]);
  await run('umoci', ['insert', '--image', `${layout}:base`, rootfs, '/']);
  await run('umoci', ['config', '--image', `${layout}:base`, '--config.env', 'PATH=/bin:/usr/bin:/sbin:/usr/sbin', '--config.cmd', 'sh', '--os', 'linux', '--architecture', 'amd64']);
  return layout;
}

export async function startImageRegistry(): Promise<ImageRegistry> {
  const registry = await startRegistry();
  const dir = await mkdtemp(join(tmpdir(), 'workd-busybox-'));
  try {
    const layout = await buildBusyboxLayout(dir);
    let n = 0;
    const push = async (name: string, opts: { entrypoint?: readonly string[] } = {}): Promise<void> => {
      let source = `${layout}:base`;
      if (opts.entrypoint) {
        const tag = `variant${n++}`;
        await run('umoci', ['config', '--image', `${layout}:base`, '--tag', tag, '--clear=config.cmd', ...opts.entrypoint.flatMap((a) => ['--config.entrypoint', a])]);
        source = `${layout}:${tag}`;
      }
      await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${source}`, `docker://${registry.host}/${mirrorPath(name)}`]);
    };
    await push(BUSYBOX_IMAGE);
    // The sandbox's init: sleeps until killed (containerd stops sandboxes with SIGKILL).
    await push(PAUSE_IMAGE, { entrypoint: ['/bin/sleep', '2147483647'] });
    return {
      registry,
      endpoint: `http://${registry.host}`,
      push,
      async stop() {
        await registry.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface ContainerdOptions {
  readonly registry: ImageRegistry;
  /** Use this dir (e.g. to restart on the same state); default a fresh temp dir. */
  readonly dir?: string;
}

export interface TestContainerd {
  readonly dir: string;
  /** The CRI socket path. */
  readonly socket: string;
  /** `unix://<socket>`, as workd's `[downstream] endpoint` takes it. */
  readonly endpoint: string;
  /** The CNI bridge this instance's pods are attached to. */
  readonly bridge: string;
  readonly process: ChildProcess;
  logs(): string;
  /** Stops containerd only (SIGTERM): its shims and pods keep running, as after a crash of containerd. */
  kill(): Promise<void>;
  /** Starts containerd again on the same dirs (after kill()). */
  restart(): Promise<void>;
  /** Removes every pod (through `cleanup`), stops containerd and its shims, removes the bridge and the dir. */
  stop(cleanup?: () => Promise<void>): Promise<void>;
}

function containerdToml(dir: string, socket: string, reg: ImageRegistry): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = "${join(dir, 'root')}"
state = "${join(dir, 'state')}"
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "${join(dir, 'opt')}"
[${cri}]
  sandbox_image = "${PAUSE_IMAGE}"
  # Root here lacks CAP_SYS_RESOURCE: a negative oom_score_adj makes runc fail every sandbox.
  restrict_oom_score_adj = true
  [${cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${join(dir, 'cni')}"
  [${cri}.registry.mirrors."registry.k8s.io"]
    endpoint = ["${reg.endpoint}"]
  [${cri}.registry.mirrors."gcr.io"]
    endpoint = ["${reg.endpoint}"]
`;
}

/** A bridge + host-local conflist on a subnet and bridge name of this instance's own (no NAT, no iptables). */
function cniConflist(dir: string, bridge: string): string {
  const a = 100 + randomBytes(1)[0]! % 100;
  const b = randomBytes(1)[0]!;
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: `workd-test-${bridge}`,
    plugins: [
      {
        type: 'bridge',
        bridge,
        isGateway: true,
        ipMasq: false,
        ipam: { type: 'host-local', ranges: [[{ subnet: `10.${a}.${b}.0/24` }]], dataDir: join(dir, 'ipam') },
      },
      { type: 'loopback' },
    ],
  }, null, 2);
}

async function waitForSocket(path: string, child: ChildProcess, logs: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`containerd exited (${child.exitCode}):\n${logs().slice(-4000)}`);
    if (existsSync(path) && /containerd successfully booted/.test(logs())) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`containerd did not come up on ${path}:\n${logs().slice(-4000)}`);
}

/** Shims of this instance: their command line names its socket (`-address <socket>`). */
function shimPids(socket: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'latin1').split('\0');
      if (cmd[0]?.endsWith('containerd-shim-runc-v2') && cmd.includes(socket)) pids.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return pids;
}

export async function startContainerd(opts: ContainerdOptions): Promise<TestContainerd> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'workd-ctrd-')));
  const socket = join(dir, 'containerd.sock');
  const bridge = `wdt${randomBytes(4).toString('hex')}`;
  await mkdir(join(dir, 'cni'), { recursive: true });
  await writeFile(join(dir, 'config.toml'), containerdToml(dir, socket, opts.registry));
  await writeFile(join(dir, 'cni', '10-workd-test.conflist'), cniConflist(dir, bridge));

  let out = '';
  let child!: ChildProcess;
  const start = async (): Promise<void> => {
    out = '';
    child = spawn('/usr/bin/containerd', ['--config', join(dir, 'config.toml'), '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (out = (out + s).slice(-200_000)));
    await waitForSocket(socket, child, () => out);
  };
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  const onExit = (): void => {
    child.kill('SIGKILL');
    for (const pid of shimPids(socket)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  };
  process.once('exit', onExit);
  await start();
  return {
    dir,
    socket,
    endpoint: `unix://${socket}`,
    bridge,
    get process() { return child; },
    logs: () => out,
    kill,
    restart: start,
    async stop(cleanup) {
      try {
        if (cleanup && child.exitCode === null) await cleanup();
      } finally {
        await kill();
        process.off('exit', onExit);
        for (const pid of shimPids(socket)) {
          try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        }
        await run('ip', ['link', 'del', bridge]).catch(() => undefined);
        // Mounts left by a pod that was not removed (rootfs, shm) would keep the dir busy.
        const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(dir + '/'));
        for (const m of mounts.reverse()) await run('umount', ['-l', m]).catch(() => undefined);
        if (!opts.dir) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      }
    },
  };
}
