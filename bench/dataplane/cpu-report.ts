// Benchmark servers report their own CPU time on SIGUSR2 (`cpu <µs>` on
// stdout): CPU per call is a steadier figure than requests/s on a shared machine.
export function installCpuReport(): void {
  process.on('SIGUSR2', () => {
    const u = process.cpuUsage();
    process.stdout.write(`cpu ${u.user + u.system}\n`);
  });
}
