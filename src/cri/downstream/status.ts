// Status and RuntimeConfig of a hybrid node. The kubelet reads one runtime: it
// is ready only when both sides are (the downstream's NetworkReady follows its
// CNI config), `crictl info` shows the downstream and its health, and the
// node's cgroup driver is the downstream's (component pods have no cgroups).
import { Code, WorkdError } from '../../errors.js';
import type { UnaryHandler } from '../handler.js';
import type { DownstreamClient } from './client.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Msg = any;

const REQUIRED = ['RuntimeReady', 'NetworkReady'];

interface Condition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}

/** Status: workd's answer with the downstream's conditions, handlers and health folded in. */
export function hybridStatus(workd: UnaryHandler, downstream: DownstreamClient, workdHandler: string, timeoutMs: number): UnaryHandler {
  return async (req: Msg) => {
    const [mine, theirs] = await Promise.all([
      workd(req) as Promise<Msg>,
      downstream.call<Msg>('runtime', 'Status', { verbose: req?.verbose ?? false }, timeoutMs).then(
        (res) => ({ ok: true as const, res }),
        (err: Error) => ({ ok: false as const, err }),
      ),
    ]);
    const conditions: Condition[] = (mine.status?.conditions ?? []).map((c: Condition) => ({ ...c }));
    const theirConditions: Condition[] = theirs.ok ? (theirs.res.status?.conditions ?? []) : [];
    for (const type of REQUIRED) {
      let mineC = conditions.find((c) => c.type === type);
      if (!mineC) conditions.push((mineC = { type, status: true, reason: '', message: '' }));
      const other = theirConditions.find((c) => c.type === type);
      if (!theirs.ok) {
        Object.assign(mineC, { status: false, reason: 'DownstreamUnavailable', message: theirs.err.message });
      } else if (!other || !other.status) {
        const why = other ? `${other.reason}: ${other.message}` : `it reports no ${type} condition`;
        Object.assign(mineC, { status: false, reason: `Downstream${other?.reason || 'NotReady'}`, message: `downstream runtime ${downstream.endpoint} is not ${type}: ${why}` });
      }
    }
    for (const c of theirConditions) if (!conditions.some((m) => m.type === c.type)) conditions.push(c);

    const handlers = [...(mine.runtime_handlers ?? []).filter((h: Msg) => h.name === workdHandler)];
    if (handlers.length === 0) handlers.push({ name: workdHandler, features: { recursive_read_only_mounts: false, user_namespaces: false } });
    if (theirs.ok) handlers.push(...(theirs.res.runtime_handlers ?? []).filter((h: Msg) => h.name !== workdHandler));

    const health = theirs.ok
      ? { endpoint: downstream.endpoint, healthy: theirConditions.every((c) => c.status), conditions: theirConditions }
      : { endpoint: downstream.endpoint, healthy: false, error: theirs.err.message };
    const info: Record<string, string> = { ...(mine.info ?? {}) };
    if (req?.verbose) {
      const theirInfo: Record<string, unknown> = {};
      for (const [k, v] of Object.entries<string>(theirs.ok ? (theirs.res.info ?? {}) : {})) {
        try {
          theirInfo[k] = JSON.parse(v);
        } catch {
          theirInfo[k] = v;
        }
      }
      info.downstream = JSON.stringify({ ...health, info: theirInfo });
    } else {
      info.downstream = JSON.stringify(health);
    }
    return {
      status: { conditions },
      runtime_handlers: handlers,
      features: theirs.ok && theirs.res.features ? theirs.res.features : mine.features,
      info,
    };
  };
}

export type CgroupDriver = 'SYSTEMD' | 'CGROUPFS';

/**
 * The downstream's cgroup driver: its RuntimeConfig answer, or, from a runtime
 * that predates that rpc (containerd 1.6), its default runc runtime's
 * `SystemdCgroup` option as `Status` verbose reports its config.
 */
export async function downstreamCgroupDriver(downstream: DownstreamClient, timeoutMs: number): Promise<CgroupDriver> {
  try {
    const rc = await downstream.call<Msg>('runtime', 'RuntimeConfig', {}, timeoutMs);
    const driver = rc?.linux?.cgroup_driver;
    if (driver === 'SYSTEMD' || driver === 'CGROUPFS') return driver;
    if (driver === 0 || driver === 1) return driver === 0 ? 'SYSTEMD' : 'CGROUPFS';
  } catch (err) {
    if (!(err instanceof WorkdError) || err.code !== Code.UNIMPLEMENTED) throw err;
  }
  const st = await downstream.call<Msg>('runtime', 'Status', { verbose: true }, timeoutMs);
  let config: Msg = {};
  try {
    config = JSON.parse(st?.info?.config ?? '{}');
  } catch {
    /* no config: cgroupfs, containerd's default */
  }
  const runtimes = config?.containerd?.runtimes ?? {};
  const name = config?.containerd?.defaultRuntimeName ?? 'runc';
  const systemd = runtimes[name]?.options?.SystemdCgroup === true || config?.systemdCgroup === true;
  return systemd ? 'SYSTEMD' : 'CGROUPFS';
}

/** RuntimeConfig: the downstream's cgroup driver. */
export function hybridRuntimeConfig(downstream: DownstreamClient, timeoutMs: number): UnaryHandler {
  return async () => ({ linux: { cgroup_driver: await downstreamCgroupDriver(downstream, timeoutMs) } });
}
