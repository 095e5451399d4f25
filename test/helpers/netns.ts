// Network namespaces, bridges and CNI configs for tests of pod networking, each
// with a name of its own (other tests run at the same time on this machine):
// netns `wdt-<hex>`, bridge `wdt<hex>` (15 bytes at most), a random private
// /24 and a host-local data dir under the test's temp dir. Needs root and
// Debian's containernetworking-plugins (/usr/lib/cni); cniUnavailable() says what is missing.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const run = promisify(execFile);

export const CNI_BIN = '/usr/lib/cni';
const PLUGINS = ['bridge', 'host-local', 'loopback', 'ptp', 'portmap'];

/** Why CNI tests cannot run here, or undefined when they can. */
export function cniUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'CNI tests need root (network namespaces, bridges)';
  const missing = PLUGINS.filter((p) => !existsSync(join(CNI_BIN, p)));
  if (missing.length > 0) return `missing CNI plugins ${missing.join(', ')} in ${CNI_BIN} (Debian containernetworking-plugins, listed in .ci/run)`;
  if (!existsSync('/usr/sbin/ip') && !existsSync('/sbin/ip') && !existsSync('/usr/bin/ip')) return 'missing ip (Debian iproute2)';
  return undefined;
}

export function uniqueName(prefix: string, bytes = 4): string {
  return `${prefix}${randomBytes(bytes).toString('hex')}`;
}

/** A random 10.x.y.0/24 (x in 100..199): its first three octets. */
export function randomSubnet(): string {
  const b = randomBytes(2);
  return `10.${100 + (b[0]! % 100)}.${b[1]!}`;
}

export interface TestNetns {
  readonly name: string;
  readonly path: string;
  remove(): Promise<void>;
}

export async function makeNetns(prefix = 'wdt-'): Promise<TestNetns> {
  const name = uniqueName(prefix);
  await run('ip', ['netns', 'add', name]);
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return { name, path: `/run/netns/${name}`, remove: () => run('ip', ['netns', 'del', name]).then(() => undefined, () => undefined) };
}

/** A bridge + host-local (+ portmap) + loopback conflist of this test's own, written to `<dir>/net.d`. */
export interface TestNetwork {
  readonly confDir: string;
  readonly bridge: string;
  /** `10.a.b` */
  readonly subnet: string;
  readonly gateway: string;
  readonly ipamDir: string;
  readonly conflist: Record<string, unknown>;
  /** The addresses host-local holds leases for, sorted. */
  leased(): string[];
  /** Removes the bridge (the dirs go with the test's temp dir). */
  remove(): Promise<void>;
}

export async function makeBridgeNetwork(dir: string, opts: { cniVersion?: string; rangeStart?: number; rangeEnd?: number; portmap?: boolean; file?: string } = {}): Promise<TestNetwork> {
  const bridge = uniqueName('wdt');
  const subnet = randomSubnet();
  const confDir = join(dir, 'net.d');
  const ipamDir = join(dir, 'ipam');
  await mkdir(confDir, { recursive: true });
  const range: Record<string, string> = { subnet: `${subnet}.0/24` };
  if (opts.rangeStart !== undefined) range.rangeStart = `${subnet}.${opts.rangeStart}`;
  if (opts.rangeEnd !== undefined) range.rangeEnd = `${subnet}.${opts.rangeEnd}`;
  const plugins: Record<string, unknown>[] = [
    { type: 'bridge', bridge, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[range]], dataDir: ipamDir } },
  ];
  if (opts.portmap) plugins.push({ type: 'portmap', capabilities: { portMappings: true }, snat: false });
  plugins.push({ type: 'loopback' });
  const conflist = { cniVersion: opts.cniVersion ?? '1.0.0', name: `workd-test-${bridge}`, plugins };
  await writeFile(join(confDir, opts.file ?? '10-test.conflist'), JSON.stringify(conflist, null, 2));
  return {
    confDir,
    bridge,
    subnet,
    gateway: `${subnet}.1`,
    ipamDir,
    conflist,
    leased: () => {
      const d = join(ipamDir, conflist.name);
      return existsSync(d) ? readdirSync(d).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)).sort() : [];
    },
    remove: () => run('ip', ['link', 'del', bridge]).then(() => undefined, () => undefined),
  };
}
