// Crash injection for the recovery tests: WORKD_KILL_AT=<point>[,<point>…] makes the
// process SIGKILL itself the first time it reaches a named point (`<point>@N` on the
// N-th time). This is the one place the variable is read. It exists because a real
// crash cannot be made to land at an exact moment inside a verb; with the variable
// unset, killPoint is a Map lookup on an empty map.
const armed = new Map<string, number>();
for (const item of (process.env.WORKD_KILL_AT ?? '').split(',')) {
  const m = /^([\w:.-]+?)(?:@(\d+))?$/.exec(item.trim());
  if (m) armed.set(m[1]!, Number(m[2] ?? 1));
}

/** Dies here (SIGKILL, no cleanup) if WORKD_KILL_AT names this point and this is the armed hit. */
export function killPoint(point: string): void {
  const left = armed.get(point);
  if (left === undefined) return;
  if (left > 1) {
    armed.set(point, left - 1);
    return;
  }
  process.kill(process.pid, 'SIGKILL');
}
