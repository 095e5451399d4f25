// The CNI specification's data, as the runtime side sees it (spec 1.0 and 1.1,
// with the 0.3/0.4 result format): network configuration lists, what a plugin
// gets on stdin, what it answers, and which spec versions have which verbs.
// https://github.com/containernetworking/cni/blob/main/SPEC.md

/** The verbs a runtime sends in CNI_COMMAND. */
export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC';

/** One plugin's object inside a configuration list's `plugins` (kept as given: plugins read their own keys). */
export interface PluginConf {
  readonly type: string;
  /** Capabilities the plugin asks for through runtimeConfig (`portMappings`, `ipRanges`, …). */
  readonly capabilities?: Readonly<Record<string, boolean>>;
  readonly [key: string]: unknown;
}

export interface NetworkConfigList {
  /** The version the runtime speaks to every plugin of the list. */
  readonly cniVersion: string;
  readonly name: string;
  readonly disableCheck: boolean;
  readonly disableGC: boolean;
  readonly plugins: readonly PluginConf[];
  /** The file it came from. */
  readonly file: string;
  /** The file's bytes, so a caller can tell the list changed since a pod was set up. */
  readonly bytes: string;
}

/** A result (ADD's stdout), in the list's cniVersion format: passed on unchanged as the next plugin's prevResult. */
export type CniResult = Readonly<Record<string, unknown>>;

/** A plugin's error object (stdout on a non-zero exit). */
export interface CniErrorBody {
  readonly code: number;
  readonly msg: string;
  readonly details?: string;
}

/** The spec versions this runtime speaks, oldest first. */
export const SUPPORTED_VERSIONS: readonly string[] = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

/** Orders `a.b.c` versions numerically (-1, 0, 1). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

export const VERSION_RE = /^\d+\.\d+\.\d+$/;

/** CHECK came with 0.4.0; STATUS and GC with 1.1.0. */
export function versionHas(version: string, command: CniCommand): boolean {
  if (command === 'CHECK') return compareVersions(version, '0.4.0') >= 0;
  if (command === 'STATUS' || command === 'GC') return compareVersions(version, '1.1.0') >= 0;
  return true;
}

/** The spec's well-known error codes (SPEC.md "Error"); 100 and up are plugin-specific. */
export const CNI_ERROR_CODES: Readonly<Record<number, string>> = {
  1: 'incompatible CNI version',
  2: 'unsupported field in network configuration',
  3: 'container unknown or does not exist',
  4: 'invalid necessary environment variables',
  5: 'I/O failure',
  6: 'failed to decode content',
  7: 'invalid network config',
  11: 'try again later',
  50: 'the plugin is not available',
  51: 'the plugin is not available, existing containers may have limited connectivity',
};

/** The pod's addresses in a result: `ips[].address` (0.3.0 and later) without the prefix length. */
export function resultIps(result: CniResult): string[] {
  const ips = result.ips;
  if (!Array.isArray(ips)) return [];
  const out: string[] = [];
  for (const ip of ips) {
    const a = (ip as { address?: unknown }).address;
    if (typeof a === 'string' && a.includes('/')) out.push(a.slice(0, a.indexOf('/')));
  }
  return out;
}
