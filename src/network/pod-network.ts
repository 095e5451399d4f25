// Pod networking: each component pod (not hostNetwork) gets a network namespace
// of its own, named from its sandbox key, and the node's CNI configuration list
// runs against it unchanged; the data plane then serves the pod from sockets the
// socket helper opens inside that namespace. With [cni] off, pods keep the node's
// address and the network is always ready. Design and cost: docs/networking.md.
//
//   RunPodSandbox    netns add → ADD (all plugins) → record {netns, ips, result}; on failure DEL + netns delete
//   StopPodSandbox   DEL (cached result) → netns delete → record without network
//   RemovePodSandbox the same, if Stop did not
//   daemon start     CHECK of every restored pod, whose sockets are opened again
import type { Server } from 'node:net';
import type { Socket as UdpSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import type { Config } from '../config.js';
import { Code, WorkdError, codeOf, failedPrecondition } from '../errors.js';
import type { Limits } from '../limits.js';
import type { Logger } from '../observability/log.js';
import type { Sandbox } from '../pods/pod.js';
import type { SandboxNetwork } from '../pods/records.js';
import { CniClient, type PortMapping } from './cni/client.js';
import { parseConfigList } from './cni/conflist.js';
import type { ExecOptions } from './cni/exec.js';
import { resultIps, type CniResult } from './cni/spec.js';
import { CniConfigWatcher, type NetworkCondition } from './cni/watch.js';
import { netnsName, netnsPath } from './netns.js';
import { SocketHelper } from './socket-helper.js';

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
}

export class PodNetworking {
  private readonly exec: ExecOptions;
  private readonly watcher: CniConfigWatcher | undefined;
  private readonly helper: SocketHelper | undefined;
  /** Set by the daemon once the data plane runs, with the port pods serve on (the data plane's). */
  private listeners: { readonly sink: PodListeners; readonly port: number } | undefined;

  constructor(private readonly o: PodNetworkOptions) {
    this.exec = { binDirs: o.config.binDirs, timeoutMs: o.limits.cniPluginTimeoutMs };
    if (o.config.enabled) {
      let last: boolean | undefined;
      this.watcher = new CniConfigWatcher(o.config.confDir, this.exec, (c) => {
        if (c.ready === last) return;
        last = c.ready;
        if (c.ready) o.log.info({ confDir: o.config.confDir }, 'CNI network configuration found: network ready');
        else o.log.warn({ confDir: o.config.confDir, why: c.message }, 'no usable CNI network configuration: network not ready');
      });
      this.helper = new SocketHelper(o.log, o.limits.cniPluginTimeoutMs);
      // Started now, so the first pod does not wait for python3 to start.
      this.helper.warm();
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

  private clientFor(net: SandboxNetwork): CniClient {
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
    await this.helper!.netnsAdd(netns);
    const args = { IgnoreUnknown: '1', K8S_POD_NAMESPACE: pod.namespace, K8S_POD_NAME: pod.name, K8S_POD_INFRA_CONTAINER_ID: pod.key, K8S_POD_UID: pod.uid };
    const attachment = { containerId: pod.key, netns, ifname: this.o.config.ifname, args, capabilities };
    try {
      const result = await client.add(attachment);
      const ips = resultIps(result);
      if (ips.length === 0) throw new WorkdError(Code.FAILED_PRECONDITION, `CNI network ${JSON.stringify(client.list.name)} gave the pod no IP address (result ${JSON.stringify(result).slice(0, 300)})`);
      return { netns, ifname: attachment.ifname, conflist: client.list.bytes, conflistFile: client.list.file, ips, result, args, capabilities };
    } catch (err) {
      // Undo both halves even when one fails; the error says what was undone.
      const del = await client.del(attachment, undefined, { everyPlugin: true }).then(
        () => 'DEL run',
        (e: unknown) => {
          this.o.log.error({ pod: pod.key, err: e }, 'CNI DEL after a failed ADD failed too; the plugins may hold what they allocated until GC');
          return `DEL failed too (${(e as Error).message})`;
        },
      );
      const ns = await this.helper!.netnsDelete(netns).then(
        () => `${netns} removed`,
        (e: unknown) => {
          this.o.log.error({ pod: pod.key, err: e }, 'could not remove the network namespace of a failed pod');
          return `${netns} NOT removed (${(e as Error).message})`;
        },
      );
      throw new WorkdError(codeOf(err), `pod network for CNI_CONTAINERID ${pod.key} failed: ${(err as Error).message}; undone: ${del}, ${ns}`, { cause: err });
    }
  }

  /** DEL with the cached result, then the namespace. Repeating it is harmless (DEL of what is gone succeeds). */
  async tearDown(key: string, net: SandboxNetwork): Promise<void> {
    await this.clientFor(net).del({ containerId: key, netns: net.netns, ifname: net.ifname, args: net.args, capabilities: net.capabilities }, net.result as CniResult);
    await this.helper!.netnsDelete(net.netns);
  }

  /** After a restart: CHECK that the pod's network is still what ADD made (false: the list has no CHECK). */
  async check(key: string, net: SandboxNetwork): Promise<boolean> {
    if (!existsSync(net.netns)) throw new WorkdError(Code.FAILED_PRECONDITION, `the network namespace ${net.netns} of the pod is gone (the node rebooted?)`);
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
