// The runtime side of CNI for one network configuration list: ADD runs the
// plugins in order, each given the one before's result as prevResult; DEL runs
// them in reverse with the cached ADD result; CHECK (0.4.0+) in order with it.
// STATUS and GC (1.1.0) are sent only to plugins whose VERSION answer lists a
// spec version that has them (Debian's 1.1.1 plugins speak up to 1.0.0 and answer
// STATUS with "unknown CNI_COMMAND").
import { execPlugin, type ExecOptions, type Invocation } from './exec.js';
import { CniError } from './errors.js';
import { compareVersions, versionHas, type CniCommand, type CniResult, type NetworkConfigList, type PluginConf } from './spec.js';

/** One pod's attachment: what every ADD, CHECK and DEL of it names. */
export interface Attachment {
  /** CNI_CONTAINERID: the sandbox's 64-hex key (plugins refuse ':' '@' '#'). */
  readonly containerId: string;
  /** CNI_NETNS: the namespace's path. */
  readonly netns: string;
  /** CNI_IFNAME. */
  readonly ifname: string;
  /** CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME, …). */
  readonly args?: Readonly<Record<string, string>>;
  /** runtimeConfig values, each given only to plugins declaring the capability (`portMappings`). */
  readonly capabilities?: Readonly<Record<string, unknown>>;
}

/** A port mapping as the portmap plugin's `portMappings` capability takes it. */
export interface PortMapping {
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  readonly hostIP?: string;
}

export class CniClient {
  /** Spec versions per plugin type, from VERSION (asked once per type). */
  private readonly versions = new Map<string, Promise<readonly string[]>>();

  constructor(
    readonly list: NetworkConfigList,
    private readonly exec: ExecOptions,
  ) {}

  /** What `plugin` gets on stdin: its own keys, the list's name and version, prevResult and the runtimeConfig it asked for. */
  private stdin(plugin: PluginConf, a: Attachment | undefined, prevResult: CniResult | undefined, extra: Record<string, unknown> = {}): Record<string, unknown> {
    const conf: Record<string, unknown> = { ...plugin, name: this.list.name, cniVersion: this.list.cniVersion, ...extra };
    if (prevResult !== undefined) conf.prevResult = prevResult;
    const rc: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(a?.capabilities ?? {})) if (plugin.capabilities?.[k] === true) rc[k] = v;
    if (Object.keys(rc).length > 0) conf.runtimeConfig = rc;
    return conf;
  }

  private inv(command: CniCommand, a: Attachment): Invocation {
    return { command, containerId: a.containerId, netns: a.netns, ifname: a.ifname, args: a.args };
  }

  /** Which capabilities no plugin of the list declares (a runtime value for one would be dropped silently). */
  missingCapabilities(names: readonly string[]): string[] {
    return names.filter((n) => !this.list.plugins.some((p) => p.capabilities?.[n] === true));
  }

  /** ADD: the final result (the last plugin's). A failed ADD leaves cleanup to the caller's DEL, as the spec has it. */
  async add(a: Attachment): Promise<CniResult> {
    let prev: CniResult | undefined;
    for (const p of this.list.plugins) {
      const out = await execPlugin(p.type, this.list.name, this.inv('ADD', a), this.stdin(p, a, prev), this.exec);
      if (typeof out !== 'object' || out === null || Array.isArray(out)) {
        throw new CniError('bad-output', `CNI plugin ${p.type} ADD (network ${JSON.stringify(this.list.name)}) answered no result object`, undefined, p.type, 'ADD');
      }
      prev = out as CniResult;
    }
    return prev!;
  }

  /**
   * DEL, last plugin first, given the cached ADD result when there is one. Deleting what is gone
   * succeeds (plugins must allow it). `everyPlugin` (undoing a failed ADD) goes on past a failing
   * plugin, so one that hangs does not keep the others from releasing what they hold; the first error is thrown at the end.
   */
  async del(a: Attachment, cached?: CniResult, opts: { everyPlugin?: boolean } = {}): Promise<void> {
    let first: unknown;
    for (const p of [...this.list.plugins].reverse()) {
      try {
        await execPlugin(p.type, this.list.name, this.inv('DEL', a), this.stdin(p, a, cached), this.exec);
      } catch (err) {
        if (!opts.everyPlugin) throw err;
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }

  /** CHECK with the cached result; nothing to do before 0.4.0 or with disableCheck. */
  async check(a: Attachment, cached: CniResult): Promise<boolean> {
    if (!versionHas(this.list.cniVersion, 'CHECK') || this.list.disableCheck) return false;
    for (const p of this.list.plugins) await execPlugin(p.type, this.list.name, this.inv('CHECK', a), this.stdin(p, a, cached), this.exec);
    return true;
  }

  /** The spec versions a plugin speaks (its VERSION answer's supportedVersions). */
  pluginVersions(type: string): Promise<readonly string[]> {
    let v = this.versions.get(type);
    if (!v) {
      v = execPlugin(type, this.list.name, { command: 'VERSION' }, { cniVersion: this.list.cniVersion }, this.exec).then((out) => {
        const s = (out as { supportedVersions?: unknown } | undefined)?.supportedVersions;
        return Array.isArray(s) ? s.filter((x): x is string => typeof x === 'string') : [];
      });
      v.catch(() => this.versions.delete(type));
      this.versions.set(type, v);
    }
    return v;
  }

  /** Whether `command` (STATUS, GC) may be sent to `type`: the list and the plugin both speak a version that has it. */
  private async speaks(type: string, command: CniCommand): Promise<boolean> {
    if (!versionHas(this.list.cniVersion, command)) return false;
    return (await this.pluginVersions(type)).some((v) => versionHas(v, command) && compareVersions(v, this.list.cniVersion) <= 0);
  }

  /** STATUS of every plugin that has it; resolves when all are ready, rejects with the first that is not. Answers how many were asked. */
  async status(): Promise<number> {
    let asked = 0;
    for (const p of this.list.plugins) {
      if (!(await this.speaks(p.type, 'STATUS'))) continue;
      asked++;
      await execPlugin(p.type, this.list.name, { command: 'STATUS' }, this.stdin(p, undefined, undefined), this.exec);
    }
    return asked;
  }

  /** GC: every plugin that has it forgets attachments not in `valid`. Answers how many were asked. */
  async gc(valid: readonly { containerID: string; ifname: string }[]): Promise<number> {
    if (this.list.disableGC) return 0;
    let asked = 0;
    for (const p of this.list.plugins) {
      if (!(await this.speaks(p.type, 'GC'))) continue;
      asked++;
      await execPlugin(p.type, this.list.name, { command: 'GC' }, this.stdin(p, undefined, undefined, { 'cni.dev/valid-attachments': valid }), this.exec);
    }
    return asked;
  }
}
