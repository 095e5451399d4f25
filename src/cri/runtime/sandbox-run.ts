// RunPodSandbox: a component pod is a record in the pool (READY at once: there
// is no process or network namespace to set up). The pod's component comes from
// its workd.dev/* labels.
import type { UnaryHandler } from '../handler.js';
import type { RunPodSandboxRequest__Output } from '../../gen/cri/runtime/v1/RunPodSandboxRequest.js';
import type { RunPodSandboxResponse } from '../../gen/cri/runtime/v1/RunPodSandboxResponse.js';
import { invalidArgument } from '../../errors.js';
import { componentFromLabels } from '../../pods/names.js';
import { nowNanos } from '../../pods/pod.js';
import { podLogDirectory } from '../../wasm/log-path.js';
import type { RuntimeDeps } from './deps.js';
import { otherPodsUnsupported, podKind } from './pod-kind.js';

/** Runtime handlers that mean "workd itself" (RuntimeClass handler names); Status lists the same ones. */
export const OWN_HANDLERS: ReadonlySet<string> = new Set(['', 'workd']);

export function runPodSandbox(d: RuntimeDeps): UnaryHandler<RunPodSandboxRequest__Output, RunPodSandboxResponse> {
  return async (req) => {
    const config = req.config;
    if (!config) throw invalidArgument('RunPodSandbox: config is missing');
    if (podKind(config) !== 'component') throw otherPodsUnsupported();
    const m = config.metadata;
    if (!m) throw invalidArgument('RunPodSandbox: config.metadata is missing');
    if (m.name === '') throw invalidArgument('RunPodSandbox: config.metadata.name is missing');
    if (!OWN_HANDLERS.has(req.runtime_handler)) {
      throw invalidArgument(`RunPodSandbox: unknown runtime handler ${JSON.stringify(req.runtime_handler)} (workd serves "" and "workd")`);
    }
    const component = componentFromLabels(config.labels);
    const pod = d.pool.add(component, {
      metadata: { name: m.name, uid: m.uid, namespace: m.namespace, attempt: m.attempt },
      labels: config.labels,
      annotations: config.annotations,
      logDirectory: podLogDirectory(config.log_directory),
      hostname: config.hostname,
      runtimeHandler: req.runtime_handler,
      createdAt: nowNanos(),
    });
    d.log.debug({ pod: pod.id, name: `${m.namespace}/${m.name}` }, 'pod sandbox ready');
    return { pod_sandbox_id: pod.id };
  };
}
