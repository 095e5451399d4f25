// Sandbox and container records for the pod pool's unit tests (src/pods/*.test.ts).
import { nowNanos } from '../../src/pods/pod.js';
import { ContainerState, SandboxState } from '../../src/pods/pod-state.js';
import type { NewContainer, NewSandbox } from '../../src/pods/pod-pool.js';
import type { ContainerRuntime } from '../../src/wasm/api.js';

let seq = 0;

export function sandboxFields(name = `pod-${seq++}`, state: SandboxState = SandboxState.Ready): NewSandbox {
  return {
    state,
    metadata: { name, uid: `uid-${name}`, namespace: 'default', attempt: 0 },
    labels: {},
    annotations: {},
    logDirectory: '',
    hostname: '',
    runtimeHandler: '',
    namespaces: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', targetId: '' },
    cgroupParent: '',
    resources: null,
    createdAt: nowNanos(),
  };
}

export function containerFields(name = 'main', attempt = 0, state: ContainerState = ContainerState.Created): NewContainer {
  return {
    state,
    metadata: { name, attempt },
    imageRequested: 'sha256:img',
    userSpecifiedImage: '',
    imageId: 'sha256:img',
    imageName: 'sha256:img',
    imageRef: 'sha256:img',
    labels: {},
    annotations: {},
    env: {},
    args: [],
    logPath: '',
    mounts: [],
    resources: null,
    createdAt: nowNanos(),
    startedAt: '0',
    finishedAt: '0',
    exitCode: 0,
    reason: '',
    message: '',
  };
}

/** The component map stores runtimes as opaque values; these tests never call one. */
export function runtimeValue(id: string): ContainerRuntime {
  const never = () => Promise.reject(new Error('not called in these tests'));
  return { containerId: id, methods: new Set(), inFlight: 0, call: never, stop: never, reopenLog: never };
}
