// Named network namespaces, as `ip netns` makes them (a bind mount under
// /run/netns), so CNI plugins, `ip netns exec` and an operator all see the pod's
// namespace by name. workd's are `workd-<sandbox key>`; the socket helper
// (socket-helper.py) makes and removes them without a process per pod.
export const NETNS_DIR = '/run/netns';
export const NETNS_PREFIX = 'workd-';

export function netnsName(key: string): string {
  return `${NETNS_PREFIX}${key}`;
}

export function netnsPath(name: string): string {
  return `${NETNS_DIR}/${name}`;
}
