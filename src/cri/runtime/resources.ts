// The CRI's LinuxContainerResources as the guest's limits.
export interface ResourceLimits {
  readonly memoryLimitBytes?: number;
  readonly cpuMsPerCall?: number;
}

interface LinuxResourcesLike {
  readonly memory_limit_in_bytes?: string | number;
}

/** memory_limit_in_bytes > 0 caps the guest's memory; 0 (unset) leaves the config's default. */
export function limitsFromResources(resources: LinuxResourcesLike | null | undefined): ResourceLimits {
  const memory = Number(resources?.memory_limit_in_bytes ?? 0);
  return memory > 0 ? { memoryLimitBytes: memory } : {};
}
