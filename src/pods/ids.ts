// IDs: sandboxes keep the design's readable `domain:service@version#N`;
// containers get 64 lowercase hex characters, as containerd and CRI-O make
// them (the kubelet builds /var/log/containers/<pod>_<ns>_<ctr>-<ID>.log from
// them and log shippers parse that ID as [a-z0-9]{64}); each sandbox also has
// a 64-hex key for names that cannot hold ':' '@' '#' (CNI_CONTAINERID,
// network namespaces).
import { randomBytes } from 'node:crypto';
import type { ComponentName } from './names.js';

export function sandboxId(component: ComponentName, n: number): string {
  return `${component.name}#${n}`;
}

/** 256 random bits: a collision is not a practical event, and the pool checks for one anyway. */
export function randomHexId(): string {
  return randomBytes(32).toString('hex');
}

export const HEX_ID_RE = /^[0-9a-f]{64}$/;
