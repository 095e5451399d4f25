// runtime.v1.RuntimeService: the verbs workd serves, and why it does not serve the others.
import type { ServiceHandlers, StreamHandlers } from '../handler.js';
import { ContainerState } from '../../pods/pod-state.js';
import { getContainerEvents } from './container-events.js';
import { containerStats, listContainerStats } from './container-stats.js';
import { attach } from './container-attach.js';
import { exec } from './container-exec.js';
import { execSyncVerb } from './container-exec-sync.js';
import { portForward } from './sandbox-port-forward.js';
import { containerStatus } from './container-status.js';
import { createContainer } from './container-create.js';
import { listContainers } from './container-list.js';
import { removeContainer } from './container-remove.js';
import { reopenContainerLog } from './container-reopen-log.js';
import { startContainer } from './container-start.js';
import { stopContainer, stopContainerIn } from './container-stop.js';
import { updateContainerResources } from './container-update.js';
import type { RuntimeDeps } from './deps.js';
import { listPodSandbox } from './sandbox-list.js';
import { listMetricDescriptors, listPodSandboxMetrics } from './sandbox-metrics.js';
import { removePodSandbox } from './sandbox-remove.js';
import { runtimeConfig } from './runtime-config.js';
import { runPodSandbox } from './sandbox-run.js';
import { listPodSandboxStats, podSandboxStats } from './sandbox-stats.js';
import { podSandboxStatus } from './sandbox-status.js';
import { stopPodSandbox } from './sandbox-stop.js';
import { updatePodSandboxResources } from './sandbox-update-resources.js';
import { status } from './status.js';
import { updateRuntimeConfig } from './update-runtime-config.js';
import { version } from './version.js';

export type { RuntimeDeps } from './deps.js';

export function createRuntimeService(d: RuntimeDeps): ServiceHandlers {
  return {
    Version: version(d),
    Status: status(d),
    UpdateRuntimeConfig: updateRuntimeConfig(d),
    RunPodSandbox: runPodSandbox(d),
    StopPodSandbox: stopPodSandbox(d),
    RemovePodSandbox: removePodSandbox(d),
    PodSandboxStatus: podSandboxStatus(d),
    ListPodSandbox: listPodSandbox(d),
    CreateContainer: createContainer(d),
    StartContainer: startContainer(d),
    StopContainer: stopContainer(d),
    RemoveContainer: removeContainer(d),
    ListContainers: listContainers(d),
    ContainerStatus: containerStatus(d),
    ReopenContainerLog: reopenContainerLog(d),
    UpdateContainerResources: updateContainerResources(d),
    UpdatePodSandboxResources: updatePodSandboxResources(d),
    RuntimeConfig: runtimeConfig(d),
    ContainerStats: containerStats(d),
    ListContainerStats: listContainerStats(d),
    PodSandboxStats: podSandboxStats(d),
    ListPodSandboxStats: listPodSandboxStats(d),
    ListMetricDescriptors: listMetricDescriptors(),
    ListPodSandboxMetrics: listPodSandboxMetrics(d),
    Exec: exec(d),
    ExecSync: execSyncVerb(d),
    Attach: attach(d),
    PortForward: portForward(d),
  };
}

/** The server-streaming rpcs workd serves. */
export function createRuntimeStreams(d: RuntimeDeps): StreamHandlers {
  return { GetContainerEvents: getContainerEvents(d) };
}

const NO_STATS = 'the streaming stats variants are not served; use the unary ListContainerStats, ListPodSandboxStats and ListPodSandboxMetrics';
const NO_STREAMS = 'the streaming List variants are not served yet; use the unary List rpcs';

/** Why each RuntimeService rpc workd does not serve answers UNIMPLEMENTED. */
export const RUNTIME_UNIMPLEMENTED: Readonly<Record<string, string>> = {
  StreamContainerStats: NO_STATS,
  StreamPodSandboxStats: NO_STATS,
  StreamPodSandboxMetrics: NO_STATS,
  StreamPodSandboxes: NO_STREAMS,
  StreamContainers: NO_STREAMS,
  CheckpointContainer: 'checkpointing is not supported',
};

/** Stops every running container (daemon shutdown), each sandbox under its own lock. */
export async function stopAllContainers(d: RuntimeDeps, graceMs: number): Promise<void> {
  const sandboxes = [...d.pool.sandboxes()].filter((s) => s.running() !== undefined);
  await Promise.all(
    sandboxes.map((sandbox) =>
      d.lifecycle.locked(sandbox, async (tx) => {
        for (const c of [...sandbox.containers]) if (c.state === ContainerState.Running) await stopContainerIn(d, tx, c, graceMs);
      }),
    ),
  );
}
