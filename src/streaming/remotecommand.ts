// What an exec or attach session is, whichever transport carries it: the
// streams the client asked for, and the result the error stream reports
// (a metav1.Status as JSON from v4 on, bare text on failure before that).
import type { Readable, Writable } from 'node:stream';

export interface StreamOptions {
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
  readonly tty: boolean;
}

export interface TerminalSize {
  readonly width: number;
  readonly height: number;
}

/** The client's side of a session as a command sees it. Streams the client did not ask for are absent. */
export interface CommandIO {
  readonly stdin?: Readable;
  readonly stdout?: Writable;
  readonly stderr?: Writable;
  readonly tty: boolean;
  /** Aborted when the client goes away. */
  readonly signal: AbortSignal;
  /** Called with each terminal size the client sends (tty sessions). */
  onResize?: (size: TerminalSize) => void;
}

/** How a session ended: an exit code (0 = success), or an error that is not a command's exit. */
export type CommandResult = { readonly exitCode: number; readonly command?: string } | { readonly error: string };

export type CommandRunner = (io: CommandIO) => Promise<CommandResult>;

/** metav1.Status for a result, as the kubelet writes it (remotecommand ServeExec). */
export function statusOf(result: CommandResult): Record<string, unknown> {
  if ('error' in result) {
    return {
      metadata: {},
      status: 'Failure',
      message: `Internal error occurred: ${result.error}`,
      reason: 'InternalError',
      details: { causes: [{ message: result.error }] },
      code: 500,
    };
  }
  if (result.exitCode === 0) return { metadata: {}, status: 'Success' };
  const what = result.command ? `command '${result.command}' exited with ${result.exitCode}` : `exit code ${result.exitCode}`;
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: ${what}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(result.exitCode) }] },
  };
}

/** The bytes the error stream carries: JSON status (v4+), or the failure's message as text (empty on success). */
export function encodeStatus(result: CommandResult, json: boolean): Buffer {
  const status = statusOf(result);
  if (json) return Buffer.from(JSON.stringify(status));
  return status.status === 'Success' ? Buffer.alloc(0) : Buffer.from(String(status.message));
}

/** Parses the resize stream's JSON objects ({"Width":80,"Height":24}, one after another). */
export class ResizeDecoder {
  private pending = '';

  constructor(private readonly emit: (size: TerminalSize) => void) {}

  push(chunk: Buffer | string): void {
    this.pending += chunk.toString();
    for (;;) {
      const end = this.pending.indexOf('}');
      if (end === -1) break;
      const text = this.pending.slice(0, end + 1);
      this.pending = this.pending.slice(end + 1);
      try {
        const v = JSON.parse(text) as { Width?: number; Height?: number };
        this.emit({ width: Number(v.Width ?? 0), height: Number(v.Height ?? 0) });
      } catch {
        // A malformed size is ignored, as the kubelet's decoder stops on it without failing the session.
      }
    }
    if (this.pending.length > 4096) this.pending = '';
  }
}
