// ExecSync (exec probes, crictl exec -s): runs a built-in command and answers its output and exit code;
// a timeout that passes is DEADLINE_EXCEEDED, which the kubelet's prober reports as a probe timeout.
import type { UnaryHandler } from '../handler.js';
import type { ExecSyncRequest__Output } from '../../gen/cri/runtime/v1/ExecSyncRequest.js';
import type { ExecSyncResponse } from '../../gen/cri/runtime/v1/ExecSyncResponse.js';
import { invalidArgument } from '../../errors.js';
import { execSync } from '../../streaming/commands.js';
import { requireId, type RuntimeDeps } from './deps.js';
import { containerOf, streamingOf } from './streaming.js';

export function execSyncVerb(d: RuntimeDeps): UnaryHandler<ExecSyncRequest__Output, ExecSyncResponse> {
  return async (req) => {
    const id = requireId(req.container_id, 'ExecSync: container_id');
    if (req.cmd.length === 0) throw invalidArgument('ExecSync: cmd is empty');
    const timeout = Number(req.timeout);
    if (!Number.isSafeInteger(timeout) || timeout < 0) throw invalidArgument(`ExecSync: timeout ${req.timeout} is not a number of seconds`);
    // A container that is not running still answers: `health` says why it is not serving.
    const c = containerOf(d, 'ExecSync', id);
    const limits = { maxOutput: d.config.limits.streamingExecSyncMaxOutputBytes, maxStdin: d.config.limits.streamingExecStdinMaxBytes };
    const r = await execSync(streamingOf(d, 'ExecSync').target(c.id), req.cmd, timeout, limits);
    return { stdout: r.stdout, stderr: r.stderr, exit_code: r.exitCode };
  };
}
