// GetContainerEvents on a hybrid node: one stream carrying the events of both
// sides. A downstream that does not serve the rpc (containerd 1.6) makes the
// whole stream UNIMPLEMENTED, so the kubelet falls back to relisting, which
// covers both sides, instead of hearing only about component containers. If
// either side's stream fails, the merged stream fails with that error and the
// kubelet subscribes again.
import type { StreamHandler } from '../handler.js';
import type { DownstreamClient } from './client.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Msg = any;

export function mergedContainerEvents(workd: StreamHandler | undefined, downstream: DownstreamClient): StreamHandler {
  return {
    async stream(req: Msg, send, signal) {
      const both = new AbortController();
      const stop = (): void => both.abort();
      signal.addEventListener('abort', stop, { once: true });
      try {
        await Promise.race([
          downstream.stream('runtime', 'GetContainerEvents', req ?? {}, (m) => void send(m), both.signal),
          workd ? workd.stream(req, send, both.signal) : new Promise<void>(() => undefined),
        ]);
      } finally {
        signal.removeEventListener('abort', stop);
        both.abort();
      }
    },
  };
}
