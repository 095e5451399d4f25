// Named network namespaces, as `ip netns` makes them (a bind mount under
// /run/netns), so CNI plugins, `ip netns exec` and an operator all see the pod's
// namespace by name. workd's are `workd-<sandbox key>`.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { Code, WorkdError } from '../errors.js';

const run = promisify(execFile);

export const NETNS_DIR = '/run/netns';
export const NETNS_PREFIX = 'workd-';

export function netnsName(key: string): string {
  return `${NETNS_PREFIX}${key}`;
}

export function netnsPath(name: string): string {
  return `${NETNS_DIR}/${name}`;
}

/** Creates the namespace (with its loopback down: CNI's loopback plugin brings it up). */
export async function addNetns(name: string): Promise<string> {
  try {
    await run('ip', ['netns', 'add', name]);
  } catch (err) {
    throw new WorkdError(Code.INTERNAL, `could not create network namespace ${name}: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`);
  }
  return netnsPath(name);
}

/** Removes the namespace's name; one already gone is no error. The namespace itself ends with its last socket. */
export async function removeNetns(name: string): Promise<void> {
  try {
    await run('ip', ['netns', 'delete', name]);
  } catch (err) {
    const text = ((err as { stderr?: string }).stderr ?? '').trim();
    if (/No such file or directory/.test(text)) return;
    throw new WorkdError(Code.INTERNAL, `could not remove network namespace ${name}: ${text || (err as Error).message}`);
  }
}

/** workd's namespaces present now, by sandbox key. */
export function listWorkdNetns(): Map<string, string> {
  const out = new Map<string, string>();
  let names: string[] = [];
  try {
    names = readdirSync(NETNS_DIR);
  } catch {
    return out;
  }
  for (const n of names) if (n.startsWith(NETNS_PREFIX) && /^[0-9a-f]{64}$/.test(n.slice(NETNS_PREFIX.length))) out.set(n.slice(NETNS_PREFIX.length), n);
  return out;
}
