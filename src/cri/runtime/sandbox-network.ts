// The network side of the sandbox verbs (src/network/pod-network.ts does the work):
// which pods get a network of their own, the host ports they ask for, and the
// teardown StopPodSandbox and RemovePodSandbox share.
import type { PortMapping as CriPortMapping } from '../../gen/cri/runtime/v1/PortMapping.js';
import { invalidArgument } from '../../errors.js';
import type { PortMapping } from '../../network/cni/client.js';
import type { Sandbox } from '../../pods/pod.js';
import type { SandboxPatch } from '../../pods/runner.js';
import type { NamespaceOptions } from '../../pods/records.js';
import type { RuntimeDeps } from './deps.js';

/** CNI on and not hostNetwork (namespace_options.network NODE): the pod gets a namespace and an address of its own. */
export function ownNetwork(d: RuntimeDeps, namespaces: NamespaceOptions): boolean {
  return d.network.enabled && namespaces.network !== 'NODE';
}

const PROTOCOLS: Readonly<Record<string, PortMapping['protocol']>> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp', 0: 'tcp', 1: 'udp', 2: 'sctp' };

/** The kubelet sends every declared container port; only those with a host_port are mappings (as containerd reads them). */
export function hostPortMappings(list: readonly CriPortMapping[] | undefined): PortMapping[] {
  const out: PortMapping[] = [];
  for (const m of list ?? []) {
    const hostPort = Number(m.host_port ?? 0);
    if (hostPort <= 0) continue;
    const protocol = PROTOCOLS[String(m.protocol ?? 'TCP')];
    if (!protocol) throw invalidArgument(`RunPodSandbox: config.port_mappings protocol ${JSON.stringify(m.protocol)} is not TCP, UDP or SCTP`);
    const containerPort = Number(m.container_port ?? 0);
    if (hostPort > 65535 || containerPort <= 0 || containerPort > 65535) throw invalidArgument(`RunPodSandbox: config.port_mappings ${hostPort}->${containerPort} is out of the port range`);
    out.push({ hostPort, containerPort, protocol, ...(m.host_ip ? { hostIP: m.host_ip } : {}) });
  }
  return out;
}

/** Stops serving the pod's address, runs DEL and removes its namespace; the patch drops the network from the record. */
export async function tearDownNetwork(d: RuntimeDeps, sandbox: Sandbox): Promise<SandboxPatch> {
  const net = sandbox.record.network;
  if (!net) return {};
  await d.network.unserve(sandbox);
  await d.network.tearDown(sandbox.record.key, net);
  d.log.debug({ pod: sandbox.id, ips: net.ips }, 'pod network torn down');
  return { network: undefined };
}
