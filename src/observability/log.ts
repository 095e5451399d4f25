// Structured JSON-lines logs (pino) to stderr, so stdout stays free for the start banner and CLI output.
//
// Every line has exactly one `msg`, the fixed text of the event (so `jq .msg`
// groups events); details go in fields. A call that passes an object with its
// own `msg` and a message too has that object's `msg` moved to `reason`.
//
// Each subsystem logs through its own child logger (`subsystem` field), whose
// level can be changed while the daemon runs (LogLevels.set; the metrics
// listener's /debug/log-levels, see docs/deploy.md).
import { pino, type Logger, type LoggerOptions } from 'pino';
import { LOG_LEVELS, type LogLevel } from '../config.js';
import { invalidArgument } from '../errors.js';

export type { Logger };

const oneMsg: NonNullable<LoggerOptions['hooks']>['logMethod'] = function (this: Logger, args, method) {
  const [first, second] = args as unknown[];
  if (typeof first === 'object' && first !== null && !(first instanceof Error) && 'msg' in first && typeof second === 'string') {
    const { msg, ...rest } = first as Record<string, unknown>;
    (args as unknown[])[0] = { ...rest, reason: msg };
  }
  return method.apply(this, args);
};

export function createLogger(level: LogLevel, destination = 2): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: { logMethod: oneMsg },
    },
    pino.destination({ fd: destination, sync: false }),
  );
}

/** The subsystems that log through their own child logger. */
export const SUBSYSTEMS = ['cri', 'pods', 'dataplane', 'http3', 'images', 'executor', 'streaming', 'metrics', 'state', 'downstream'] as const;
export type Subsystem = (typeof SUBSYSTEMS)[number];

/** Child loggers per subsystem, with levels that can be changed at run time. */
export class LogLevels {
  private readonly children = new Map<Subsystem, Logger>();

  constructor(readonly root: Logger) {}

  /** The logger of a subsystem (one per subsystem, made on first use at the root's level). */
  for(subsystem: Subsystem): Logger {
    let child = this.children.get(subsystem);
    if (!child) {
      child = this.root.child({ subsystem });
      this.children.set(subsystem, child);
    }
    return child;
  }

  /** Sets the level of one subsystem, or of all of them (and the root) with '*'. */
  set(subsystem: string, level: string): void {
    if (!(LOG_LEVELS as readonly string[]).includes(level)) throw invalidArgument(`log level ${JSON.stringify(level)} is not one of ${LOG_LEVELS.join(', ')}`);
    if (subsystem === '*') {
      this.root.level = level;
      for (const s of SUBSYSTEMS) this.for(s).level = level;
      return;
    }
    if (!(SUBSYSTEMS as readonly string[]).includes(subsystem)) {
      throw invalidArgument(`unknown log subsystem ${JSON.stringify(subsystem)} (known: ${SUBSYSTEMS.join(', ')}, or * for all)`);
    }
    this.for(subsystem as Subsystem).level = level;
  }

  /** Each subsystem's level now. */
  levels(): Record<string, string> {
    return Object.fromEntries(SUBSYSTEMS.map((s) => [s, this.for(s).level]));
  }
}
