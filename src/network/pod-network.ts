// Pod networking: each component pod (not hostNetwork) gets a network namespace
// of its own, named from its sandbox key, and the node's CNI configuration list
// runs against it unchanged; the data plane then serves the pod from sockets the
// socket helper opens inside that namespace. With [cni] off, pods keep the node's
// address and the network is always ready. Design and cost: docs/networking.md.
//
//   RunPodSandbox    pending file → netns add → ADD (all plugins) → record {netns, ips, result} → pending file gone;
//                    on failure DEL + netns delete (the pending file stays if they fail, for the next start)
//   StopPodSandbox   DEL (cached result; CNI_NETNS empty if the namespace is gone) → netns delete → record without network
//   RemovePodSandbox the same, if Stop did not
//   daemon start     DEL + netns delete for every pending file no record holds (a crash mid-setup);
//                    CHECK of every restored pod, whose sockets are opened again
import type { Server } from 'node:net';
import type { Socket as UdpSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import type { Config } from '../config.js';
import { Code, WorkdError, codeOf, failedPrecondition } from '../errors.js';
import type { Limits } from '../limits.js';
import type { Logger } from '../observability/log.js';
import type { Sandbox } from '../pods/pod.js';
import type { SandboxNetwork } from '../pods/records.js';
import { CniClient, type Attachment, type PortMapping } from './cni/client.js';
import { parseConfigList } from './cni/conflist.js';
import type { ExecOptions } from './cni/exec.js';
import { resultIps, type CniResult } from './cni/spec.js';
import { CniConfigWatcher, type NetworkCondition } from './cni/watch.js';
import { netnsName, netnsPath } from './netns.js';
import { PendingNetworks } from './pending.js';
import { SocketHelper } from './socket-helper.js';

interface Outcome {
  readonly ok: boolean;
  readonly text: string;
}

export interface PodIdentity {
  /** The sandbox's 64-hex key: CNI_CONTAINERID and the namespace's name. */
  readonly key: string;
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
}

/** The sockets of one pod, for the data plane (src/dataplane/pod-listener.ts PodSockets). */
export interface PodSockets {
  tcp(): Promise<Server>;
  udp(): Promise<UdpSocket>;
}

/** The data plane's side: serving one pod from its sockets (src/dataplane/pod-listener.ts). */
export interface PodListeners {
  add(sandbox: Sandbox, sockets: PodSockets): Promise<void>;
  remove(podId: string): Promise<void>;
}

export interface PodNetworkOptions {
  readonly config: Config['cni'];
  readonly limits: Limits;
  readonly log: Logger;
  /** The daemon's state dir: pods being set up are noted under it (pending.ts). */
  readonly stateDir: string;
}

export interface LeakReport {
  /** Pods whose setup a crash interrupted (pending, no record). */
  readonly leaked: number;
  /** Of those, undone now: DEL run, namespace removed. */
  readonly collected: number;
  /** Of those, DEL or the namespace failed: kept for the next start (logged). */
  readonly failed: number;
}

export class PodNetworking {
  private readonly exec: ExecOptions;
  private readonly watcher: CniConfigWatcher | undefined;
  private readonly helper: SocketHelper | undefined;
  private readonly pending: PendingNetworks | undefined;
  /** Set by the daemon once the data plane runs, with the port pods serve on (the data plane's). */
  private listeners: { readonly sink: PodListeners; readonly port: number } | undefined;

  constructor(private readonly o: PodNetworkOptions) {
    if (o.config.enabled) {
      this.helper = new SocketHelper(o.log, o.limits.cniPluginTimeoutMs);
      this.exec = { binDirs: o.config.binDirs, timeoutMs: o.limits.cniPluginTimeoutMs, run: this.helper.runPlugin };
      let last: boolean | undefined;
      this.watcher = new CniConfigWatcher(o.config.confDir, this.exec, (c) => {
        if (c.ready === last) return;
        last = c.ready;
        if (c.ready) o.log.info({ confDir: o.config.confDir }, 'CNI network configuration found: network ready');
        else o.log.warn({ confDir: o.config.confDir, why: c.message }, 'no usable CNI network configuration: network not ready');
      });
      this.pending = new PendingNetworks(`${o.stateDir}/cni-pending`);
      // Started now, so the first pod does not wait for python3 to start.
      this.helper.warm();
    } else {
      this.exec = { binDirs: o.config.binDirs, timeoutMs: o.limits.cniPluginTimeoutMs };
    }
  }

  get enabled(): boolean {
    return this.o.config.enabled;
  }

  /** Status' NetworkReady. */
  condition(): NetworkCondition {
    if (!this.watcher) return { ready: true, reason: '', message: '' };
    const broken = this.helper!.unavailable();
    if (broken) return { ready: false, reason: 'NetworkPluginNotReady', message: broken };
    return this.watcher.condition();
  }

  /** What Status verbose shows as `cniconfig` (as containerd's `crictl info`). */
  describe(): Record<string, unknown> {
    if (!this.watcher) return { enabled: false };
    const list = this.watcher.current();
    return { enabled: true, confDir: this.o.config.confDir, binDirs: this.o.config.binDirs, network: list ? { name: list.name, file: list.file, cniVersion: list.cniVersion, plugins: list.plugins.map((p) => p.type) } : null };
  }

  private clientFor(net: Pick<SandboxNetwork, 'conflist' | 'conflistFile'>): CniClient {
    return new CniClient(parseConfigList(net.conflistFile, net.conflist), this.exec);
  }

  /**
   * The pod's namespace and ADD. Anything that fails leaves nothing behind: DEL runs for
   * what ADD may have done (plugins allow DEL of what is not there) and the namespace goes.
   */
  async setUp(pod: PodIdentity, portMappings: readonly PortMapping[]): Promise<SandboxNetwork> {
    const client = this.watcher!.usable();
    const capabilities: Record<string, unknown> = {};
    if (portMappings.length > 0) {
      if (client.missingCapabilities(['portMappings']).length > 0) {
        throw failedPrecondition(
          `RunPodSandbox: the pod asks for host ports (${portMappings.map((p) => `${p.hostPort}/${p.protocol}`).join(', ')}) but no plugin of CNI network ${JSON.stringify(client.list.name)} (${client.list.file}) has the portMappings capability; add the portmap plugin with "capabilities": {"portMappings": true}`,
        );
      }
      capabilities.portMappings = portMappings;
    }
    const netns = netnsPath(netnsName(pod.key));
    const args = { IgnoreUnknown: '1', K8S_POD_NAMESPACE: pod.namespace, K8S_POD_NAME: pod.name, K8S_POD_INFRA_CONTAINER_ID: pod.key, K8S_POD_UID: pod.uid };
    const attachment = { containerId: pod.key, netns, ifname: this.o.config.ifname, args, capabilities };
    // Noted before anything exists, so a crash from here until the record leaves a trace the next start follows.
    await this.pending!.add(pod.key, { netns, ifname: attachment.ifname, conflist: client.list.bytes, conflistFile: client.list.file, args, capabilities });
    try {
      await this.helper!.netnsAdd(netns);
    } catch (err) {
      await this.settled(pod.key);
      throw err;
    }
    try {
      const result = await client.add(attachment);
      const ips = resultIps(result);
      if (ips.length === 0) throw new WorkdError(Code.FAILED_PRECONDITION, `CNI network ${JSON.stringify(client.list.name)} gave the pod no IP address (result ${JSON.stringify(result).slice(0, 300)})`);
      return { netns, ifname: attachment.ifname, conflist: client.list.bytes, conflistFile: client.list.file, ips, result, args, capabilities };
    } catch (err) {
      // Undo both halves even when one fails; the error says what was undone.
      const [del, ns] = await this.undo(client, attachment, pod.key);
      if (del.ok && ns.ok) await this.settled(pod.key);
      else this.o.log.error({ pod: pod.key }, 'a failed pod network could not be undone in full: the next daemon start runs DEL and removes the namespace again');
      throw new WorkdError(codeOf(err), `pod network for CNI_CONTAINERID ${pod.key} failed: ${(err as Error).message}; undone: ${del.text}, ${ns.text}`, { cause: err });
    }
  }

  /** DEL of every plugin (one failing does not stop the rest) and removal of the namespace, each reported. */
  private async undo(client: CniClient, a: Attachment, key: string): Promise<[Outcome, Outcome]> {
    const del = await client.del(this.present(a), undefined, { everyPlugin: true }).then(
      () => ({ ok: true, text: 'DEL run' }),
      (e: unknown) => {
        this.o.log.error({ pod: key, err: e }, 'CNI DEL of an unfinished pod network failed; the plugins may hold what they allocated');
        return { ok: false, text: `DEL failed too (${(e as Error).message})` };
      },
    );
    const ns = await this.helper!.netnsDelete(a.netns).then(
      () => ({ ok: true, text: `${a.netns} removed` }),
      (e: unknown) => {
        this.o.log.error({ pod: key, err: e }, 'could not remove the network namespace of an unfinished pod');
        return { ok: false, text: `${a.netns} NOT removed (${(e as Error).message})` };
      },
    );
    return [del, ns];
  }

  /**
   * The attachment as DEL should see it: with CNI_NETNS empty when the namespace is gone (a
   * reboot, an emptied /run/netns), as the spec asks and containerd does, so plugins release
   * what they hold outside it (IPAM, host rules) without failing on a missing path.
   */
  private present(a: Attachment): Attachment {
    return existsSync(a.netns) ? a : { ...a, netns: '' };
  }

  /** The setup of `key` is over (recorded, or undone): forget it. Never throws (logs). */
  async settled(key: string): Promise<void> {
    await this.pending?.done(key).catch((err: unknown) => this.o.log.error({ pod: key, err }, 'could not remove the pending note of a pod network'));
  }

  /**
   * At start, before any pod is run: every pod network whose setup a crash interrupted (a
   * pending note whose key `recorded` does not know) gets DEL, with the list and arguments its
   * ADD had, and its namespace removed. Notes of recorded pods are just removed. CNI GC is not
   * sent: its valid-attachments list would have to hold every runtime's pods on a network
   * shared with containerd ([downstream]), and Debian's plugins do not speak it.
   */
  async collectLeaked(recorded: (key: string) => boolean): Promise<LeakReport> {
    if (!this.pending) return { leaked: 0, collected: 0, failed: 0 };
    let leaked = 0;
    let collected = 0;
    let failed = 0;
    for (const { key, net } of await this.pending.list()) {
      if (recorded(key)) {
        await this.settled(key);
        continue;
      }
      leaked++;
      let client: CniClient;
      let a: Attachment;
      try {
        // A note cut short by the crash names only the key: DEL then runs the current list.
        client = net ? this.clientFor(net) : this.watcher!.usable();
        a = net
          ? { containerId: key, netns: net.netns, ifname: net.ifname, args: net.args, capabilities: net.capabilities }
          : { containerId: key, netns: netnsPath(netnsName(key)), ifname: this.o.config.ifname };
      } catch (err) {
        failed++;
        this.o.log.error({ pod: key, err }, 'a pod network left by a crash cannot be undone now (no usable CNI list); kept for the next start');
        continue;
      }
      const [del, ns] = await this.undo(client, a, key);
      if (del.ok && ns.ok) {
        collected++;
        await this.settled(key);
        this.o.log.info({ pod: key, netns: a.netns, network: client.list.name }, 'undid the pod network a crash left between ADD and the sandbox record');
      } else {
        failed++;
      }
    }
    return { leaked, collected, failed };
  }

  /** Whether the pod's namespace is gone (the node rebooted, or /run/netns was emptied). */
  namespaceGone(net: SandboxNetwork): boolean {
    return !existsSync(net.netns);
  }

  /** DEL with the cached result, then the namespace. Repeating it is harmless (DEL of what is gone succeeds). */
  async tearDown(key: string, net: SandboxNetwork): Promise<void> {
    await this.clientFor(net).del(this.present({ containerId: key, netns: net.netns, ifname: net.ifname, args: net.args, capabilities: net.capabilities }), net.result as CniResult);
    await this.helper!.netnsDelete(net.netns);
  }

  /** After a restart: CHECK that the pod's network is still what ADD made (false: the list has no CHECK). */
  async check(key: string, net: SandboxNetwork): Promise<boolean> {
    if (this.namespaceGone(net)) throw new WorkdError(Code.FAILED_PRECONDITION, `the network namespace ${net.netns} of the pod is gone (the node rebooted?)`);
    return this.clientFor(net).check({ containerId: key, netns: net.netns, ifname: net.ifname, args: net.args, capabilities: net.capabilities }, net.result as CniResult);
  }

  attach(sink: PodListeners, port: number): void {
    this.listeners = { sink, port };
  }

  /** Has the data plane serve the pod from sockets inside its namespace (nothing for a pod without one). */
  async serve(sandbox: Sandbox): Promise<void> {
    const net = sandbox.record.network;
    if (!net || !this.listeners) return;
    await this.listeners.sink.add(sandbox, this.sockets(net, this.listeners.port));
  }

  /** Stops serving the pod's address (before DEL: its sockets go first). */
  async unserve(sandbox: Sandbox): Promise<void> {
    if (sandbox.record.network && this.listeners) await this.listeners.sink.remove(sandbox.id);
  }

  /** Sockets opened inside the pod's namespace on `port`, for the data plane. */
  sockets(net: SandboxNetwork, port: number): PodSockets {
    const helper = this.helper!;
    return { tcp: () => helper.tcp(net.netns, port), udp: () => helper.udp(net.netns, port) };
  }

  close(): void {
    this.watcher?.close();
    this.helper?.close();
  }
}
