// What the streaming sessions do to component containers: exec runs the
// built-in commands, attach streams the container's live output, and
// port-forward serves the tunnel as a gRPC connection pinned to the pod's
// container. The runtime provides the lookup; nothing here knows the pod pool.
import { createServer, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Code, WorkdError, codeName } from '../errors.js';
import { connectHttp2 } from '../dataplane/client/http2.js';
import { callJson } from '../dataplane/client/json-call.js';
import { parseMethodName } from '../dataplane/client/reflection.js';
import type { ComponentName } from '../pods/names.js';
import type { RoutableContainer, RouteTable } from '../pods/routing.js';
import { runBuiltin, type ExecTarget } from './commands.js';
import { pinnedRoutes } from './pinned-routes.js';
import type { CommandIO, CommandResult } from './remotecommand.js';
import type { StreamingBackend } from './server.js';

/** A container as the streaming sessions see it. */
export interface StreamingContainer {
  readonly id: string;
  readonly podId: string;
  readonly component: ComponentName;
  readonly env: Readonly<Record<string, string>>;
  /** The CRI state, e.g. CONTAINER_RUNNING (for messages). */
  state(): string;
  /** Its entry in the data plane while it serves calls. */
  routable(): RoutableContainer | undefined;
}

export interface StreamingLookup {
  /** The container an ID (or unique prefix) names. */
  container(id: string): StreamingContainer | undefined;
  /** The container of a pod sandbox (what its port-forward reaches). */
  sandboxContainer(podSandboxId: string): StreamingContainer | undefined;
}

export interface BackendOptions {
  readonly lookup: StreamingLookup;
  /** Serves one h2c connection on `stream` through `routes` (the data plane's pinned entry point). */
  readonly servePinned: (stream: Duplex, routes: RouteTable) => Promise<void>;
  /** limits.streamingExecStdinMaxBytes */
  readonly maxStdinBytes: number;
}

export interface WorkdStreamingBackend extends StreamingBackend {
  /** The exec target of a container (ExecSync runs the same commands). */
  target(containerId: string): ExecTarget;
}

function gone(what: string): WorkdError {
  return new WorkdError(Code.NOT_FOUND, `${what} no longer exists`);
}

export function createStreamingBackend(o: BackendOptions): WorkdStreamingBackend {
  const routesOf = (c: StreamingContainer) => pinnedRoutes(c.component, () => c.routable());

  /**
   * An h2c client connection to exactly this container: one loopback TCP
   * connection, accepted once and served pinned (a real socket, as a tunnel's
   * is; node:http2 over an in-memory stream pair stalled built-in streaming calls).
   */
  const connectPinned = async (c: StreamingContainer) => {
    const listener = createServer();
    listener.once('connection', (socket) => {
      listener.close();
      void o.servePinned(socket, routesOf(c));
    });
    await new Promise<void>((ok, fail) => {
      listener.once('error', fail);
      listener.listen(0, '127.0.0.1', () => ok());
    });
    const { port } = listener.address() as AddressInfo;
    return connectHttp2({ address: `127.0.0.1:${port}`, authority: c.component.domain, plaintext: true });
  };

  const target = (containerId: string): ExecTarget => {
    const c = o.lookup.container(containerId);
    if (!c) throw gone(`container ${containerId}`);
    const service = c.component.service;
    return {
      containerId: c.id,
      notServing: () => (c.routable() === undefined ? `container ${c.id} is ${c.state()}` : undefined),
      methods: () => [...(c.routable()?.runtime.methods ?? [])].sort().map((m) => `/${service}/${m}`),
      inFlight: () => c.routable()?.runtime.inFlight ?? 0,
      env: () => c.env,
      async call(methodText, json, signal) {
        const full = methodText.includes('/') || methodText.includes('.') ? methodText : `${service}/${methodText}`;
        const { service: svc } = parseMethodName(full);
        if (svc !== service) throw new WorkdError(Code.INVALID_ARGUMENT, `this container serves ${service}, not ${svc}`);
        const transport = await connectPinned(c);
        const onAbort = () => void transport.close();
        signal.addEventListener('abort', onAbort, { once: true });
        try {
          const r = await callJson(transport, full, json, { signal });
          return { code: r.status, codeName: codeName(r.status), message: r.message, json: r.answers.map((a) => JSON.stringify(a)).join('\n') };
        } catch (err) {
          if (err instanceof WorkdError) return { code: err.code, codeName: codeName(err.code), message: err.message };
          throw err;
        } finally {
          signal.removeEventListener('abort', onAbort);
          await transport.close();
        }
      },
    };
  };

  return {
    target,
    exec: (containerId: string, cmd: readonly string[], io: CommandIO) => runBuiltin(target(containerId), cmd, io, o.maxStdinBytes),

    async attach(containerId: string, io: CommandIO): Promise<CommandResult> {
      const c = o.lookup.container(containerId);
      if (!c) throw gone(`container ${containerId}`);
      const runtime = c.routable()?.runtime;
      if (!runtime?.subscribeOutput) throw new WorkdError(Code.FAILED_PRECONDITION, `container ${c.id} is ${c.state()}: attach needs a running container`);
      // Output goes to every attached client as it is written; a slow client misses nothing but holds memory
      // only up to its socket's buffers plus what the stream queues.
      const unsubscribe = runtime.subscribeOutput((stream, data) => {
        const w = stream === 'stdout' ? io.stdout : (io.stderr ?? io.stdout);
        if (w && !w.destroyed && !w.writableEnded) w.write(Buffer.from(data));
      });
      try {
        await new Promise<void>((done) => {
          if (io.signal.aborted) return done();
          io.signal.addEventListener('abort', () => done(), { once: true });
          // The container stopping ends the session.
          const poll = setInterval(() => {
            if (c.routable()?.runtime !== runtime) {
              clearInterval(poll);
              done();
            }
          }, 500);
          io.signal.addEventListener('abort', () => clearInterval(poll), { once: true });
        });
      } finally {
        unsubscribe();
      }
      return { exitCode: 0 };
    },

    async portForward(podSandboxId: string, _port: number, stream: Duplex): Promise<void> {
      const c = o.lookup.sandboxContainer(podSandboxId);
      if (!c) throw gone(`pod sandbox ${podSandboxId}'s container`);
      if (c.routable() === undefined) throw new WorkdError(Code.UNAVAILABLE, `container ${c.id} of pod ${podSandboxId} is ${c.state()}, not serving`);
      await o.servePinned(stream, routesOf(c));
    },
  };
}
