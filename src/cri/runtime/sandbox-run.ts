// RunPodSandbox: a component pod is a record in the pool, READY once its network
// is set up (with CNI on and not hostNetwork: a namespace and ADD, before the
// record, so a failure leaves neither; src/network/pod-network.ts). The pod's
// name is held from the first step, as containerd's name index does: a retry
// while it runs, or once it is done, is refused naming the holder, and the
// kubelet finds the sandbox by ListPodSandbox (docs/networking.md). The pod's
// component comes from its workd.dev/* labels; the namespace options are kept to
// be echoed by PodSandboxStatus, which the kubelet compares with what it asked for.
import type { UnaryHandler } from '../handler.js';
import type { RunPodSandboxRequest__Output } from '../../gen/cri/runtime/v1/RunPodSandboxRequest.js';
import type { RunPodSandboxResponse } from '../../gen/cri/runtime/v1/RunPodSandboxResponse.js';
import type { NamespaceOption__Output } from '../../gen/cri/runtime/v1/NamespaceOption.js';
import { invalidArgument } from '../../errors.js';
import { componentFromLabels } from '../../pods/names.js';
import { nowNanos } from '../../pods/pod.js';
import { podLogDirectory } from '../../wasm/log-path.js';
import type { NamespaceMode, NamespaceOptions } from '../../pods/records.js';
import { checkLabelsAndAnnotations, checkMetadata } from '../metadata.js';
import type { RuntimeDeps } from './deps.js';
import { hostPortMappings, ownNetwork } from './sandbox-network.js';
import { otherPodsUnsupported, podKind } from './pod-kind.js';

/** Runtime handlers that mean "workd itself" (RuntimeClass handler names); Status lists the same ones. */
export const OWN_HANDLERS: ReadonlySet<string> = new Set(['', 'workd']);

const MODES: readonly NamespaceMode[] = ['POD', 'CONTAINER', 'NODE', 'TARGET'];

function mode(m: string | number | undefined, field: string): NamespaceMode {
  const name = typeof m === 'number' ? MODES[m] : (m ?? 'POD');
  if (!MODES.includes(name as NamespaceMode)) throw invalidArgument(`RunPodSandbox: ${field} ${JSON.stringify(m)} is not a namespace mode`);
  return name as NamespaceMode;
}

/** The proto defaults (POD) when the kubelet sent no options, as containerd reads them. */
export function namespaceOptions(o: NamespaceOption__Output | null | undefined): NamespaceOptions {
  return {
    network: mode(o?.network, 'namespace_options.network'),
    pid: mode(o?.pid, 'namespace_options.pid'),
    ipc: mode(o?.ipc, 'namespace_options.ipc'),
    targetId: o?.target_id ?? '',
  };
}

export function runPodSandbox(d: RuntimeDeps): UnaryHandler<RunPodSandboxRequest__Output, RunPodSandboxResponse> {
  return async (req) => {
    const config = req.config;
    if (!config) throw invalidArgument('RunPodSandbox: config is missing');
    if (podKind(config) !== 'component') throw otherPodsUnsupported();
    const m = config.metadata;
    if (!m) throw invalidArgument('RunPodSandbox: config.metadata is missing');
    if (m.name === '') throw invalidArgument('RunPodSandbox: config.metadata.name is missing');
    checkMetadata(m, 'RunPodSandbox: config', d.config.limits);
    checkLabelsAndAnnotations(config, 'RunPodSandbox: config', d.config.limits);
    const own = d.config.downstream.workdHandler;
    if (!OWN_HANDLERS.has(req.runtime_handler) && req.runtime_handler !== own) {
      throw invalidArgument(`RunPodSandbox: unknown runtime handler ${JSON.stringify(req.runtime_handler)} (workd serves "" and ${JSON.stringify(own)})`);
    }
    const component = componentFromLabels(config.labels);
    const linux = config.linux;
    const namespaces = namespaceOptions(linux?.security_context?.namespace_options);
    // The name first, as containerd reserves it before anything else: a retry of a call still
    // setting up (or done) is refused at once and never runs CNI.
    const key = d.pool.newKey();
    const release = d.pool.reserveName(m, key);
    let sandbox;
    try {
      const network = ownNetwork(d, namespaces) ? await d.network.setUp({ key, name: m.name, namespace: m.namespace, uid: m.uid }, hostPortMappings(config.port_mappings)) : undefined;
      const fields = {
        metadata: { name: m.name, uid: m.uid, namespace: m.namespace, attempt: m.attempt },
        labels: config.labels,
        annotations: config.annotations,
        logDirectory: podLogDirectory(config.log_directory),
        hostname: config.hostname,
        runtimeHandler: req.runtime_handler,
        namespaces,
        cgroupParent: linux?.cgroup_parent ?? '',
        resources: linux?.resources ?? null,
        createdAt: nowNanos(),
        ...(network ? { network } : {}),
      };
      try {
        sandbox = await d.lifecycle.runSandbox(component, fields, key);
      } catch (err) {
        // Not recorded: the network set up for it goes too (or, failing that, at the next start).
        if (network) {
          await d.network.tearDown(key, network).then(
            () => d.network.settled(key),
            (e: unknown) => d.log.error({ key, err: e }, 'RunPodSandbox: could not undo the network of a pod that was not recorded; the next start tries again'),
          );
        }
        throw err;
      }
      if (network) await d.network.settled(key);
    } finally {
      release();
    }
    await d.network.serve(sandbox).catch((err: unknown) => d.log.error({ pod: sandbox.id, err }, 'the data plane cannot serve the pod\'s address'));
    d.log.debug({ pod: sandbox.id, name: `${m.namespace}/${m.name}`, ips: sandbox.record.network?.ips }, 'pod sandbox ready');
    return { pod_sandbox_id: sandbox.id };
  };
}
