// Finding the node's network: the first valid configuration in the config
// directory, in lexical order of file names, as libcni's ConfFiles orders them
// (`.conflist` lists; `.conf` and `.json` single-plugin configs, wrapped in a
// list). Invalid files are skipped and remembered, so NetworkReady can say why
// no configuration is usable.
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { CniError } from './errors.js';
import { SUPPORTED_VERSIONS, VERSION_RE, compareVersions, type NetworkConfigList, type PluginConf } from './spec.js';

export const CONFIG_EXTENSIONS: readonly string[] = ['.conf', '.conflist', '.json'];

/** Largest configuration file read. */
const MAX_CONFIG_BYTES = 1 << 20;

/** The list in `bytes`, or a CniError ('bad-config') saying what is wrong with it. */
export function parseConfigList(file: string, bytes: string): NetworkConfigList {
  const bad = (why: string) => new CniError('bad-config', `CNI config ${file}: ${why}`);
  let v: unknown;
  try {
    v = JSON.parse(bytes);
  } catch (err) {
    throw bad(`not JSON (${(err as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('not a JSON object');
  let o = v as Record<string, unknown>;
  if (extname(file) !== '.conflist') {
    // A single plugin's config: its name and version are the list's (libcni ConfListFromConf).
    if (typeof o.type !== 'string') throw bad('a .conf file must be one plugin configuration with a "type"');
    const { name, cniVersion, ...plugin } = o;
    o = { name, cniVersion, plugins: [plugin] };
  }
  if (typeof o.name !== 'string' || o.name === '') throw bad('"name" is missing');
  const version = chooseVersion(o);
  if (!version) throw bad(`none of its CNI versions (${JSON.stringify(o.cniVersions ?? o.cniVersion)}) is one this runtime speaks (${SUPPORTED_VERSIONS.join(', ')})`);
  if (!Array.isArray(o.plugins) || o.plugins.length === 0) throw bad('"plugins" must be a non-empty list');
  const plugins: PluginConf[] = [];
  for (const [i, p] of (o.plugins as unknown[]).entries()) {
    if (typeof p !== 'object' || p === null || typeof (p as PluginConf).type !== 'string' || (p as PluginConf).type === '') throw bad(`plugins[${i}] has no "type"`);
    plugins.push(p as PluginConf);
  }
  return { cniVersion: version, name: o.name, disableCheck: o.disableCheck === true, disableGC: o.disableGC === true, plugins, file, bytes };
}

/** The highest of the list's versions (`cniVersions` of spec 1.1, else `cniVersion`) that this runtime speaks. */
function chooseVersion(o: Record<string, unknown>): string | undefined {
  const offered = Array.isArray(o.cniVersions) ? o.cniVersions : [o.cniVersion];
  const ok = offered.filter((x): x is string => typeof x === 'string' && VERSION_RE.test(x) && SUPPORTED_VERSIONS.includes(x));
  return ok.sort(compareVersions).at(-1);
}

export interface LoadedConfig {
  /** The list in use, or undefined when none is valid. */
  readonly list?: NetworkConfigList;
  /** Files skipped and why (earlier in order than the list used, or all of them). */
  readonly skipped: readonly string[];
}

/** The first valid list in `dir` (a missing directory holds none). */
export function loadConfigDir(dir: string): LoadedConfig {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    return { skipped: [`${dir}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (err as Error).message}`] };
  }
  const skipped: string[] = [];
  for (const name of names.filter((n) => CONFIG_EXTENSIONS.includes(extname(n))).sort()) {
    const file = join(dir, name);
    try {
      const bytes = readFileSync(file, 'utf8');
      if (bytes.length > MAX_CONFIG_BYTES) throw new CniError('bad-config', `CNI config ${file}: larger than ${MAX_CONFIG_BYTES} bytes`);
      return { list: parseConfigList(file, bytes), skipped };
    } catch (err) {
      skipped.push((err as Error).message);
    }
  }
  return { skipped };
}
