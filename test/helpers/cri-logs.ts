// Reads a CRI container log file back (`<time> <stream> <F|P> <text>`), as
// kubelet and crictl do: partial entries are joined with the next full one.
import { readFile } from 'node:fs/promises';

export interface CriLogEntry {
  readonly time: Date;
  readonly timeText: string;
  readonly stream: 'stdout' | 'stderr';
  readonly partial: boolean;
  readonly text: string;
}
export interface CriLogMessage {
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
  /** The message ended with partial entries only (no full line yet). */
  readonly incomplete: boolean;
}

const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) (stdout|stderr) (F|P) (.*)$/s;

export function parseCriLog(content: string): CriLogEntry[] {
  const lines = content.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((line, i) => {
    const m = LINE.exec(line);
    if (!m) throw new Error(`line ${i + 1} is not in the CRI log format: ${JSON.stringify(line.slice(0, 120))}`);
    const time = new Date(m[1]!);
    if (Number.isNaN(time.getTime())) throw new Error(`line ${i + 1} has a bad timestamp ${m[1]}`);
    return { time, timeText: m[1]!, stream: m[2] as 'stdout' | 'stderr', partial: m[3] === 'P', text: m[4]! };
  });
}

/** Joins partial entries per stream into whole messages, in order. */
export function joinCriLog(entries: readonly CriLogEntry[]): CriLogMessage[] {
  const out: CriLogMessage[] = [];
  const open: Record<string, string> = {};
  for (const e of entries) {
    const text = (open[e.stream] ?? '') + e.text;
    if (e.partial) open[e.stream] = text;
    else {
      delete open[e.stream];
      out.push({ stream: e.stream, text, incomplete: false });
    }
  }
  for (const [stream, text] of Object.entries(open)) out.push({ stream: stream as 'stdout' | 'stderr', text, incomplete: true });
  return out;
}

export async function readCriLog(path: string): Promise<CriLogMessage[]> {
  return joinCriLog(parseCriLog(await readFile(path, 'utf8')));
}
