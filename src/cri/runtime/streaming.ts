// What the streaming verbs (Exec, ExecSync, Attach, PortForward) share: the
// streaming server they hand requests to, and the pool as the sessions see it.
import { Code, WorkdError } from '../../errors.js';
import type { Container, Sandbox } from '../../pods/pod.js';
import type { PodPool } from '../../pods/pod-pool.js';
import { ContainerState, criContainerState } from '../../pods/pod-state.js';
import type { StreamingContainer, StreamingLookup } from '../../streaming/backend.js';
import type { ExecTarget } from '../../streaming/commands.js';
import type { StreamRequest } from '../../streaming/server.js';
import type { RuntimeDeps } from './deps.js';

export interface RuntimeStreaming {
  /** Stores a validated request and returns the URL the client connects to. */
  url(req: StreamRequest): string;
  /** The built-in commands' view of a container (ExecSync). */
  target(containerId: string): ExecTarget;
}

export function streamingOf(d: RuntimeDeps, verb: string): RuntimeStreaming {
  if (!d.streaming) throw new WorkdError(Code.UNAVAILABLE, `${verb}: the streaming server is not running`);
  return d.streaming;
}

/** The container `id` names (ID or unique prefix), or NOT_FOUND. */
export function containerOf(d: RuntimeDeps, verb: string, id: string): Container {
  const c = d.pool.resolveContainer(id);
  if (!c) throw new WorkdError(Code.NOT_FOUND, `${verb}: container ${JSON.stringify(id)} not found`);
  return c;
}

/** The running container `id` names, or NOT_FOUND / FAILED_PRECONDITION saying why not. */
export function runningContainer(d: RuntimeDeps, verb: string, id: string): Container {
  const c = containerOf(d, verb, id);
  if (c.state !== ContainerState.Running) throw new WorkdError(Code.FAILED_PRECONDITION, `${verb}: container ${c.id} is ${criContainerState(c.state)}, not running`);
  return c;
}

/** The pod sandbox `id` names (ID, key or unique prefix), or NOT_FOUND. */
export function sandboxOf(d: RuntimeDeps, verb: string, id: string): Sandbox {
  const s = d.pool.resolveSandbox(id);
  if (!s) throw new WorkdError(Code.NOT_FOUND, `${verb}: pod sandbox ${JSON.stringify(id)} not found`);
  return s;
}

function view(c: Container): StreamingContainer {
  return {
    id: c.id,
    podId: c.sandbox.id,
    component: c.sandbox.component,
    env: c.record.env,
    state: () => criContainerState(c.state),
    routable: () => (c.state === ContainerState.Running ? c.route : undefined),
  };
}

export function streamingLookup(pool: PodPool): StreamingLookup {
  return {
    container: (id) => {
      const c = pool.resolveContainer(id);
      return c && view(c);
    },
    // A pod's port-forward reaches its running container, else its live one (to say why it does not serve).
    sandboxContainer: (id) => {
      const s = pool.resolveSandbox(id);
      const c = s?.running() ?? s?.live();
      return c && view(c);
    },
  };
}
