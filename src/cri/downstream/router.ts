// The one CRI endpoint of a hybrid node. Calls for component pods go to
// workd's own verbs; ordinary pods (no workd.dev labels, a runtime handler that
// is not workd's) and everything they own go, call for call, to the downstream
// runtime. Which side owns an ID is recorded (./ownership.ts) when the
// downstream creates it; an ID the record does not hold is workd's (or nobody's,
// and workd's verbs answer NotFound, or OK for Stop and Remove).
//
// List calls ask both sides and concatenate the answers. A filter naming an ID
// (or a unique prefix) asks only the side that owns it; a prefix matching IDs
// on both sides matches nothing, as an ambiguous prefix does on either side.
import { Code, WorkdError, invalidArgument, unimplemented } from '../../errors.js';
import type { Logger } from '../../observability/log.js';
import { podKind } from '../runtime/pod-kind.js';
import type { ServiceHandlers, UnaryHandler } from '../handler.js';
import type { DownstreamClient, DownstreamService } from './client.js';
import type { OwnedKind, OwnershipStore } from './ownership.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Msg = any;

export interface RouterDeps {
  readonly downstream: DownstreamClient;
  readonly owned: OwnershipStore;
  /** The RuntimeClass handler name that means workd itself. */
  readonly workdHandler: string;
  /** Whether workd itself holds a sandbox or container with this ID or unique prefix. */
  readonly workdKnows: (idOrPrefix: string) => boolean;
  readonly log: Logger;
}

/** Which side a request names. */
type Side = { side: 'downstream'; id: string } | { side: 'workd' } | { side: 'ambiguous' };

export function sideOf(d: RouterDeps, id: string, kind: OwnedKind): Side {
  const r = d.owned.resolve(id, kind);
  if (r === 'ambiguous') return { side: 'ambiguous' };
  if (!r) return { side: 'workd' };
  // A prefix (not the full ID) that also matches one of workd's IDs names neither.
  if (r.id !== id && d.workdKnows(id)) return { side: 'ambiguous' };
  return { side: 'downstream', id: r.id };
}

function ambiguous(id: string): WorkdError {
  return invalidArgument(`ID prefix ${JSON.stringify(id)} matches more than one sandbox or container; give more of the ID`);
}

const isNotFound = (err: unknown): boolean => err instanceof WorkdError && err.code === Code.NOT_FOUND;
const isUnimplemented = (err: unknown): boolean => err instanceof WorkdError && err.code === Code.UNIMPLEMENTED;

/** workd's handler for `rpc`, or one answering UNIMPLEMENTED with the reason the service gives. */
function workdOr(workd: ServiceHandlers, why: Readonly<Record<string, string>>, service: string, rpc: string): UnaryHandler {
  return (
    workd[rpc] ??
    (async () => {
      throw unimplemented(`workd does not implement ${service}/${rpc}${why[rpc] ? ` (${why[rpc]})` : ''}`);
    })
  );
}

export interface Routed {
  readonly service: DownstreamService;
  readonly name: string;
  readonly workd: ServiceHandlers;
  readonly why: Readonly<Record<string, string>>;
}

/**
 * A verb naming one sandbox or container in `field`: the downstream's when it
 * owns the ID (the full ID is sent), workd's otherwise. `after` runs on the
 * downstream's answer or error (bookkeeping, idempotency).
 */
function byId(
  d: RouterDeps,
  s: Routed,
  rpc: string,
  field: string,
  kind: OwnedKind,
  after?: (req: Msg, id: string, call: () => Promise<Msg>) => Promise<Msg>,
): UnaryHandler {
  const own = workdOr(s.workd, s.why, s.name, rpc);
  return async (req: Msg) => {
    const id: string = req?.[field] ?? '';
    const side = id === '' ? ({ side: 'workd' } as const) : sideOf(d, id, kind);
    if (side.side === 'ambiguous') throw ambiguous(id);
    if (side.side === 'workd') return own(req);
    const forwarded = { ...req, [field]: side.id };
    const call = () => d.downstream.call(s.service, rpc, forwarded);
    return after ? after(forwarded, side.id, call) : call();
  };
}

/** The list field(s) of a response, concatenated (for answers that are objects on both sides). */
function mergeObjects(a: Msg, b: Msg): Msg {
  const out: Msg = { ...b, ...a };
  for (const [k, v] of Object.entries(a ?? {})) if (Array.isArray(v) && Array.isArray(b?.[k])) out[k] = [...v, ...b[k]];
  return out;
}

/**
 * A List verb over both sides. `idFilters` are the filter fields naming IDs;
 * when any is set, only the side owning them is asked (nothing when they
 * disagree or are ambiguous). A side that does not serve the rpc adds nothing.
 */
function merged(d: RouterDeps, s: Routed, rpc: string, idFilters: ReadonlyArray<readonly [string, OwnedKind]>): UnaryHandler {
  const own: UnaryHandler | undefined = s.workd[rpc];
  const hasOwn = own !== undefined;
  return async (req: Msg) => {
    const filter = req?.filter;
    let askWorkd = true;
    let askDownstream = true;
    let dreq = req;
    const named = idFilters.filter(([field]) => (filter?.[field] ?? '') !== '');
    if (named.length > 0) {
      const sides = named.map(([field, kind]) => sideOf(d, filter[field], kind));
      if (sides.every((x) => x.side === 'workd')) askDownstream = false;
      else if (sides.every((x) => x.side === 'downstream')) {
        askWorkd = false;
        dreq = { ...req, filter: { ...filter } };
        named.forEach(([field], i) => (dreq.filter[field] = (sides[i] as { id: string }).id));
      } else return {};
    }
    const [mine, theirs] = await Promise.all([
      askWorkd && own ? own(req) : undefined,
      askDownstream
        ? d.downstream.call(s.service, rpc, dreq).catch((err: unknown) => {
            if (isUnimplemented(err) && hasOwn) return undefined;
            throw err;
          })
        : undefined,
    ]);
    if (mine === undefined && theirs === undefined) {
      if (!hasOwn && !askDownstream) return {};
      if (!hasOwn) throw unimplemented(`${s.name}/${rpc} is served by neither workd nor the downstream runtime ${d.downstream.endpoint}`);
    }
    if (theirs === undefined) return mine ?? {};
    if (mine === undefined) return theirs;
    // workd's List verbs may answer already-encoded bytes; protobuf concatenation appends repeated fields.
    if (Buffer.isBuffer(mine)) return Buffer.concat([mine, d.downstream.encodeResponse(s.service, rpc, theirs)]);
    return mergeObjects(mine, theirs);
  };
}

const RUNTIME = 'runtime.v1.RuntimeService';

/** RuntimeService with downstream routing in front of workd's own verbs. */
export function routeRuntimeService(
  workd: ServiceHandlers,
  why: Readonly<Record<string, string>>,
  d: RouterDeps,
  extra: ServiceHandlers = {},
): ServiceHandlers {
  const s: Routed = { service: 'runtime', name: RUNTIME, workd, why };
  const out: Record<string, UnaryHandler> = { ...workd };

  out.RunPodSandbox = async (req: Msg) => {
    const config = req?.config;
    if (!config || podKind(config, req.runtime_handler, d.workdHandler) === 'component') return workdOr(workd, why, RUNTIME, 'RunPodSandbox')(req);
    const res = await d.downstream.call<Msg>('runtime', 'RunPodSandbox', req);
    const id: string = res.pod_sandbox_id;
    try {
      if (d.workdKnows(id)) throw new WorkdError(Code.INTERNAL, `downstream runtime ${d.downstream.endpoint} answered sandbox ID ${id}, which workd already uses`);
      await d.owned.add([{ id, kind: 'sandbox' }]);
    } catch (err) {
      // Nothing half-made is left: the kubelet retries RunPodSandbox from scratch.
      await d.downstream.call('runtime', 'StopPodSandbox', { pod_sandbox_id: id }).catch(() => undefined);
      await d.downstream.call('runtime', 'RemovePodSandbox', { pod_sandbox_id: id }).catch(() => undefined);
      throw err;
    }
    d.log.debug({ pod: id, name: `${config.metadata?.namespace}/${config.metadata?.name}`, downstream: d.downstream.endpoint }, 'pod sandbox handed to the downstream runtime');
    return res;
  };

  // Stop and Remove of what is already gone answer OK (the kubelet retries them; containerd 1.6 answers NotFound to Stop).
  const gone = async (_req: Msg, _id: string, call: () => Promise<Msg>) => call().catch((err: unknown) => (isNotFound(err) ? {} : Promise.reject(err)));
  const removed = async (_req: Msg, id: string, call: () => Promise<Msg>) => {
    const res = await gone(_req, id, call);
    await d.owned.remove([id]);
    return res;
  };

  out.StopPodSandbox = byId(d, s, 'StopPodSandbox', 'pod_sandbox_id', 'sandbox', gone);
  out.RemovePodSandbox = byId(d, s, 'RemovePodSandbox', 'pod_sandbox_id', 'sandbox', removed);
  out.StopContainer = byId(d, s, 'StopContainer', 'container_id', 'container', gone);
  out.RemoveContainer = byId(d, s, 'RemoveContainer', 'container_id', 'container', removed);
  out.CreateContainer = byId(d, s, 'CreateContainer', 'pod_sandbox_id', 'sandbox', async (_req, sandboxId, call) => {
    const res = await call();
    const id: string = res.container_id;
    try {
      if (d.workdKnows(id)) throw new WorkdError(Code.INTERNAL, `downstream runtime ${d.downstream.endpoint} answered container ID ${id}, which workd already uses`);
      await d.owned.add([{ id, kind: 'container', sandboxId }]);
    } catch (err) {
      await d.downstream.call('runtime', 'RemoveContainer', { container_id: id }).catch(() => undefined);
      throw err;
    }
    return res;
  });
  for (const rpc of ['PodSandboxStatus', 'PodSandboxStats', 'UpdatePodSandboxResources', 'PortForward']) {
    out[rpc] = byId(d, s, rpc, 'pod_sandbox_id', 'sandbox');
  }
  for (const rpc of ['StartContainer', 'ContainerStatus', 'UpdateContainerResources', 'ReopenContainerLog', 'ExecSync', 'Exec', 'Attach', 'ContainerStats', 'CheckpointContainer']) {
    out[rpc] = byId(d, s, rpc, 'container_id', 'container');
  }
  out.ListPodSandbox = merged(d, s, 'ListPodSandbox', [['id', 'sandbox']]);
  out.ListContainers = merged(d, s, 'ListContainers', [['id', 'container'], ['pod_sandbox_id', 'sandbox']]);
  out.ListContainerStats = merged(d, s, 'ListContainerStats', [['id', 'container'], ['pod_sandbox_id', 'sandbox']]);
  out.ListPodSandboxStats = merged(d, s, 'ListPodSandboxStats', [['id', 'sandbox']]);
  out.ListMetricDescriptors = merged(d, s, 'ListMetricDescriptors', []);
  out.ListPodSandboxMetrics = merged(d, s, 'ListPodSandboxMetrics', []);
  out.UpdateRuntimeConfig = async (req: Msg) => {
    const mine = await workdOr(workd, why, RUNTIME, 'UpdateRuntimeConfig')(req);
    await d.downstream.call('runtime', 'UpdateRuntimeConfig', req);
    return mine;
  };
  return { ...out, ...extra };
}

/**
 * Reconciles the record with what the downstream holds: every sandbox and
 * container it lists is its own (it serves only workd), and a recorded ID it
 * no longer has is gone. Run at start and whenever the downstream comes back.
 */
export async function reconcileOwnership(d: RouterDeps): Promise<{ added: number; removed: number }> {
  // Only what was recorded before listing can be stale: a sandbox created meanwhile is not in the lists.
  const before = d.owned.list().map((r) => r.id);
  const [pods, ctrs] = await Promise.all([
    d.downstream.call<Msg>('runtime', 'ListPodSandbox', {}),
    d.downstream.call<Msg>('runtime', 'ListContainers', {}),
  ]);
  const have = new Set<string>();
  const add: Array<{ id: string; kind: OwnedKind; sandboxId?: string }> = [];
  for (const p of pods.items ?? []) {
    have.add(p.id);
    if (!d.owned.get(p.id)) add.push({ id: p.id, kind: 'sandbox' });
  }
  for (const c of ctrs.containers ?? []) {
    have.add(c.id);
    if (!d.owned.get(c.id)) add.push({ id: c.id, kind: 'container', sandboxId: c.pod_sandbox_id });
  }
  const stale = before.filter((id) => !have.has(id) && d.owned.get(id));
  await d.owned.add(add);
  await d.owned.remove(stale);
  return { added: add.length, removed: stale.length };
}
