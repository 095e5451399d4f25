// The CRI socket is the node's root: whoever can connect runs pods. It is
// created 0660, owned by the daemon's user and `[cri] socket_group` (a group
// name or number, like containerd's `[grpc] gid`), so only root and that
// group's members (the kubelet, crictl users) can connect.
import { chownSync, readFileSync } from 'node:fs';
import { Code, WorkdError } from '../errors.js';

/** The gid of a group name (from /etc/group) or number; refuses an unknown group naming it. */
export function resolveGroup(group: string, groupFile = '/etc/group'): number {
  if (/^[0-9]{1,10}$/.test(group)) return Number(group);
  let text = '';
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch (err) {
    throw new WorkdError(Code.FAILED_PRECONDITION, `[cri] socket_group ${JSON.stringify(group)}: cannot read ${groupFile} (${(err as NodeJS.ErrnoException).code}); give the group's number instead`);
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^[0-9]+$/.test(gid)) return Number(gid);
  }
  throw new WorkdError(Code.FAILED_PRECONDITION, `[cri] socket_group ${JSON.stringify(group)} is not a group on this node (${groupFile})`);
}

/** Gives the socket to `group` (keeping its owner); a failure stops the start naming the group. */
export function applySocketGroup(socket: string, group: string | undefined): void {
  if (group === undefined || group === '') return;
  const gid = resolveGroup(group);
  try {
    chownSync(socket, -1, gid);
  } catch (err) {
    throw new WorkdError(Code.FAILED_PRECONDITION, `cannot give the CRI socket ${socket} to group ${group} (${gid}): ${(err as Error).message}`);
  }
}
