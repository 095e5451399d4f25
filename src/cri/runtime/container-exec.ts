// Exec: validates the request and answers the streaming server's URL; the session runs the built-in commands.
import type { UnaryHandler } from '../handler.js';
import type { ExecRequest__Output } from '../../gen/cri/runtime/v1/ExecRequest.js';
import type { ExecResponse } from '../../gen/cri/runtime/v1/ExecResponse.js';
import { invalidArgument } from '../../errors.js';
import { requireId, type RuntimeDeps } from './deps.js';
import { runningContainer, streamingOf } from './streaming.js';

export function exec(d: RuntimeDeps): UnaryHandler<ExecRequest__Output, ExecResponse> {
  return async (req) => {
    const pod = runningContainer(d, 'Exec', requireId(req.container_id, 'Exec: container_id'));
    if (req.cmd.length === 0) throw invalidArgument('Exec: cmd is empty');
    if (!req.stdin && !req.stdout && !req.stderr) throw invalidArgument('Exec: one of stdin, stdout or stderr must be set');
    if (req.tty && req.stderr) throw invalidArgument('Exec: tty and stderr cannot both be set (a terminal has one output stream)');
    const opts = { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, tty: req.tty };
    return { url: streamingOf(d, 'Exec').url({ kind: 'exec', containerId: pod.id, cmd: req.cmd, opts }) };
  };
}
