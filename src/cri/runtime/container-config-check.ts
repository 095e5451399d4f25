// What CreateContainer refuses because a component cannot honour it, so a pod
// does not run believing it has something it has not (docs/kubernetes.md).
//
// A component is a WebAssembly guest inside workd: no process, no system
// calls, no filesystem, no Linux identity. Settings that restrict a process
// (run_as_user, readonly_rootfs, drop capabilities, no_new_privs, masked
// paths, RuntimeDefault seccomp/AppArmor) hold by construction and are
// accepted. Settings that grant what a guest cannot have (privileged, added
// capabilities), and a confinement profile of the user's own (Localhost
// seccomp/AppArmor/SELinux), which workd could only pretend to load, are
// refused. Mounts: the three the kubelet adds to every container are accepted
// (the guest cannot read them); any other volume is refused, as a guest has no
// filesystem to see it in — ConfigMap and Secret data reach a component as
// environment variables (env valueFrom / envFrom).
import type { ContainerConfig__Output } from '../../gen/cri/runtime/v1/ContainerConfig.js';
import type { Mount__Output } from '../../gen/cri/runtime/v1/Mount.js';
import type { SecurityProfile__Output } from '../../gen/cri/runtime/v1/SecurityProfile.js';
import { invalidArgument } from '../../errors.js';

/** The kubelet's annotation naming the container's termination message path. */
const TERMINATION_PATH_ANNOTATION = 'io.kubernetes.container.terminationMessagePath';
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** True for a mount the kubelet adds to every container: /etc/hosts, the termination log, the service-account token. */
export function isKubeletMount(m: Mount__Output, annotations: Readonly<Record<string, string>>): boolean {
  const p = m.container_path;
  if (p === '/etc/hosts') return true;
  if (p === (annotations[TERMINATION_PATH_ANNOTATION] ?? '/dev/termination-log')) return true;
  return p === SERVICE_ACCOUNT_DIR || p.startsWith(`${SERVICE_ACCOUNT_DIR}/`);
}

function profile(p: SecurityProfile__Output | null | undefined, what: string): void {
  if (p && (p.profile_type === 'Localhost' || (p.profile_type as unknown) === 2)) {
    throw invalidArgument(
      `CreateContainer: ${what} profile Localhost ${JSON.stringify(p.localhost_ref)} cannot be applied to a component (it runs inside workd and makes no system calls); use RuntimeDefault or Unconfined`,
    );
  }
}

export function checkContainerConfig(config: ContainerConfig__Output): void {
  for (const m of config.mounts) {
    if (isKubeletMount(m, config.annotations)) continue;
    throw invalidArgument(
      `CreateContainer: the volume mounted at ${JSON.stringify(m.container_path)} (from ${JSON.stringify(m.host_path)}) cannot be given to a component: it has no filesystem; pass ConfigMap and Secret data as environment variables (env valueFrom, envFrom)`,
    );
  }
  if (config.devices.length > 0) throw invalidArgument(`CreateContainer: devices (${config.devices.map((d) => d.host_path).join(', ')}) cannot be given to a component`);
  const sc = config.linux?.security_context;
  if (!sc) return;
  if (sc.privileged) throw invalidArgument('CreateContainer: a privileged container cannot be a component (a guest has no host access to grant); drop securityContext.privileged');
  const add = [...(sc.capabilities?.add_capabilities ?? []), ...(sc.capabilities?.add_ambient_capabilities ?? [])];
  if (add.length > 0) throw invalidArgument(`CreateContainer: capabilities ${add.join(', ')} cannot be added to a component (it has no Linux capabilities)`);
  profile(sc.seccomp, 'seccomp');
  profile(sc.apparmor, 'AppArmor');
  if (sc.seccomp_profile_path.startsWith('localhost/')) profile({ profile_type: 'Localhost', localhost_ref: sc.seccomp_profile_path }, 'seccomp');
  if (sc.apparmor_profile.startsWith('localhost/')) profile({ profile_type: 'Localhost', localhost_ref: sc.apparmor_profile }, 'AppArmor');
  const se = sc.selinux_options;
  if (se && (se.user !== '' || se.role !== '' || se.type !== '' || se.level !== '')) {
    throw invalidArgument('CreateContainer: SELinux options cannot be applied to a component (it runs inside workd under workd\'s own label)');
  }
}
