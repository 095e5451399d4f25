// Attach: answers the streaming server's URL; the session streams the container's live stdout and stderr.
// A component reads no stdin and has no terminal, so asking for either is refused here, clearly.
import type { UnaryHandler } from '../handler.js';
import type { AttachRequest__Output } from '../../gen/cri/runtime/v1/AttachRequest.js';
import type { AttachResponse } from '../../gen/cri/runtime/v1/AttachResponse.js';
import { invalidArgument } from '../../errors.js';
import { requireId, type RuntimeDeps } from './deps.js';
import { runningContainer, streamingOf } from './streaming.js';

export function attach(d: RuntimeDeps): UnaryHandler<AttachRequest__Output, AttachResponse> {
  return async (req) => {
    const pod = runningContainer(d, 'Attach', requireId(req.container_id, 'Attach: container_id'));
    if (req.stdin || req.tty) {
      throw invalidArgument(
        `Attach: container ${pod.id} is a WebAssembly component: it reads no stdin and has no terminal; attach without -i/--stdin and -t/--tty to watch its output`,
      );
    }
    if (!req.stdout && !req.stderr) throw invalidArgument('Attach: one of stdout or stderr must be set');
    const opts = { stdin: false, stdout: req.stdout, stderr: req.stderr, tty: false };
    return { url: streamingOf(d, 'Attach').url({ kind: 'attach', containerId: pod.id, opts }) };
  };
}
