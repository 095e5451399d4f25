/** Latency histogram bounds in seconds, shared by every latency workd exposes (CRI calls, data plane calls). */
export const LATENCY_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
