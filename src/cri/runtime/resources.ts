// The CRI's LinuxContainerResources as a guest's limits.
//
// Memory: memory_limit_in_bytes (the pod spec's limits.memory) caps the guest's
// memory. CPU: a component has no long-running process to throttle, so the
// CPU limit (cpu_quota / cpu_period, the pod spec's limits.cpu in cores)
// scales the CPU time one call may use: limit × executor.cpu_ms_per_call.
// Unset (0) leaves the node's defaults.
export interface ResourceLimits {
  readonly memoryLimitBytes?: number;
  readonly cpuMsPerCall?: number;
}

interface LinuxResourcesLike {
  readonly memory_limit_in_bytes?: string | number;
  readonly cpu_quota?: string | number;
  readonly cpu_period?: string | number;
}

export function limitsFromResources(resources: LinuxResourcesLike | null | undefined, baseCpuMsPerCall: number): ResourceLimits {
  const out: { memoryLimitBytes?: number; cpuMsPerCall?: number } = {};
  const memory = Number(resources?.memory_limit_in_bytes ?? 0);
  if (memory > 0) out.memoryLimitBytes = memory;
  const quota = Number(resources?.cpu_quota ?? 0);
  const period = Number(resources?.cpu_period ?? 0);
  if (quota > 0 && period > 0) out.cpuMsPerCall = Math.max(1, Math.round((quota / period) * baseCpuMsPerCall));
  return out;
}
