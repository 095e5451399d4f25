// A real gRPC client for the CRI socket, as any kubelet or crictl would use:
// grpc-js + proto-loader on proto/cri.proto, with promise-returning calls.
//
//   const cri = criClient(daemon.criSocket);
//   const { pod_sandbox_id } = await cri.runtime.RunPodSandbox({ config: podConfig('example.com:foo.Bar@1.2.3') });
//   const err = await criError(cri.runtime.StartContainer({ container_id: 'nope' }));   // err.code === grpc.status.NOT_FOUND
//   cri.close();
//
// Messages are plain objects with the .proto's snake_case names, int64 as
// decimal strings and enums as their names (src/cri/handler.ts CRI_LOADER_OPTIONS).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { adminImagesConstructor } from '../../src/cri/admin.js';
import { CRI_LOADER_OPTIONS } from '../../src/cri/handler.js';
import { LABEL_DOMAIN, LABEL_SERVICE, LABEL_VERSION, parseComponentName } from '../../src/pods/names.js';

/** dist/test/helpers/cri-client.js → <root>/proto/cri.proto */
export const CRI_PROTO = fileURLToPath(new URL('../../../proto/cri.proto', import.meta.url));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Msg = any;
/** One unary rpc: request in, response out; rejects with a grpc.ServiceError. */
export type Call = (request?: Msg, options?: { deadlineMs?: number }) => Promise<Msg>;

export interface CriClient {
  /** runtime.v1.RuntimeService, by rpc name as in the .proto (e.g. `RunPodSandbox`). */
  readonly runtime: Readonly<Record<string, Call>>;
  /** runtime.v1.ImageService (e.g. `PullImage`, `ListImages`). */
  readonly image: Readonly<Record<string, Call>>;
  /** workd.admin.v1.Images on the same socket (`ImportImage({ path, tags })`). */
  readonly admin: Readonly<Record<string, Call>>;
  /** Calls a server-streaming rpc and collects every message (e.g. `StreamPodSandboxes`). */
  stream(service: 'runtime' | 'image', rpc: string, request?: Msg): Promise<Msg[]>;
  /** A server stream left open (e.g. GetContainerEvents); cancel() it when done. */
  open(service: 'runtime' | 'image', rpc: string, request?: Msg): grpc.ClientReadableStream<Msg>;
  close(): void;
}

let pkg: grpc.GrpcObject | undefined;
function v1(): grpc.GrpcObject {
  pkg ??= grpc.loadPackageDefinition(protoLoader.loadSync(CRI_PROTO, CRI_LOADER_OPTIONS));
  return (pkg.runtime as grpc.GrpcObject).v1 as grpc.GrpcObject;
}

function promisify(client: grpc.Client & Record<string, Function>, ctor: grpc.ServiceClientConstructor): Record<string, Call> {
  const out: Record<string, Call> = {};
  for (const [name, def] of Object.entries(ctor.service)) {
    if (def.requestStream || def.responseStream) continue;
    out[name] = (request = {}, options = {}) =>
      new Promise((resolve, reject) => {
        const deadline = new Date(Date.now() + (options.deadlineMs ?? 30_000));
        client[name]!.call(client, request, { deadline }, (err: grpc.ServiceError | null, res: Msg) => (err ? reject(err) : resolve(res)));
      });
  }
  return out;
}

/** Connects to the CRI on a unix socket path. */
export function criClient(socketPath: string): CriClient {
  const target = `unix://${socketPath}`;
  const creds = grpc.credentials.createInsecure();
  const R = v1().RuntimeService as grpc.ServiceClientConstructor;
  const I = v1().ImageService as grpc.ServiceClientConstructor;
  // Lists at 10,000 pods exceed grpc-js's 4 MiB default; the kubelet allows 16 MiB.
  const options = { 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.enable_channelz': 0 };
  const rc = new R(target, creds, options) as grpc.Client & Record<string, Function>;
  const ic = new I(target, creds, options) as grpc.Client & Record<string, Function>;
  const A = adminImagesConstructor();
  const ac = new A(target, creds, options) as grpc.Client & Record<string, Function>;
  return {
    runtime: promisify(rc, R),
    image: promisify(ic, I),
    admin: promisify(ac, A),
    stream(service, rpc, request = {}) {
      const c = service === 'runtime' ? rc : ic;
      return new Promise((resolve, reject) => {
        const items: Msg[] = [];
        const s = c[rpc]!.call(c, request) as grpc.ClientReadableStream<Msg>;
        s.on('data', (m: Msg) => items.push(m));
        s.on('error', reject);
        s.on('end', () => resolve(items));
      });
    },
    open(service, rpc, request = {}) {
      const c = service === 'runtime' ? rc : ic;
      return c[rpc]!.call(c, request) as grpc.ClientReadableStream<Msg>;
    },
    close() {
      rc.close();
      ic.close();
      ac.close();
    },
  };
}

/** Awaits a call that must fail and returns its error (code, details); throws if it succeeded. */
export async function criError(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('expected the CRI call to fail, but it succeeded');
}

/** The three pod labels naming a component (`domain:package.Service@version`). */
export function componentLabels(component: string): Record<string, string> {
  const c = parseComponentName(component);
  return { [LABEL_DOMAIN]: c.domain, [LABEL_SERVICE]: c.service, [LABEL_VERSION]: c.version };
}

let podSeq = 0;
/**
 * A PodSandboxConfig for a component pod, as a kubelet would send it. Names are
 * unique per call unless given (a pod name is reserved until its pod is removed).
 */
export function podConfig(component: string, opts: { name?: string; namespace?: string; labels?: Record<string, string>; logDirectory?: string } = {}): Msg {
  const name = opts.name ?? `pod-${process.pid}-${podSeq++}`;
  return {
    metadata: { name, uid: `uid-${name}`, namespace: opts.namespace ?? 'default', attempt: 0 },
    labels: { ...componentLabels(component), ...opts.labels },
    annotations: {},
    log_directory: opts.logDirectory ?? '',
  };
}

/** A ContainerConfig running `image` (an image ID, tag or digest reference in the node's store). */
export function containerConfig(image: string, opts: { name?: string; labels?: Record<string, string>; env?: Record<string, string>; logPath?: string } = {}): Msg {
  return {
    metadata: { name: opts.name ?? 'main', attempt: 0 },
    image: { image },
    labels: opts.labels ?? {},
    annotations: {},
    envs: Object.entries(opts.env ?? {}).map(([key, value]) => ({ key, value: Buffer.from(value) })),
    log_path: opts.logPath ?? '',
  };
}

/** Imports an OCI image layout directory (e.g. buildTestImage().dir) into the daemon's store; returns the image ID. */
export async function importImage(cri: CriClient, dir: string, tags: string[] = []): Promise<string> {
  const res = await cri.admin.ImportImage!({ path: dir, tags });
  return res.images[0].id as string;
}

/** RunPodSandbox + CreateContainer + StartContainer; returns the container ID (64 hex; its sandbox ID is another). */
export async function runComponent(cri: CriClient, component: string, image: string, opts: { logDirectory?: string; logPath?: string } = {}): Promise<string> {
  const config = podConfig(component, { logDirectory: opts.logDirectory });
  const { pod_sandbox_id } = await cri.runtime.RunPodSandbox!({ config });
  const { container_id } = await cri.runtime.CreateContainer!({
    pod_sandbox_id,
    config: containerConfig(image, { logPath: opts.logPath }),
    sandbox_config: config,
  });
  await cri.runtime.StartContainer!({ container_id });
  return container_id as string;
}
