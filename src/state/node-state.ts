// The daemon's one state store, at <state dir>/state, with its events in the node's log.
import { join } from 'node:path';
import type { Limits } from '../limits.js';
import type { Logger } from '../observability/log.js';
import { StateStore } from './store.js';

export const STATE_SUBDIR = 'state';

export async function openNodeState(stateDir: string, limits: Limits, log: Logger): Promise<StateStore> {
  const t0 = performance.now();
  const store = await StateStore.open(join(stateDir, STATE_SUBDIR), {
    maxCommitBytes: limits.stateMaxCommitBytes,
    compactMinBytes: limits.stateCompactMinBytes,
    compactOnClose: true,
    onEvent: (e) => {
      if (e.type === 'torn-tail') log.warn(e, 'state journal: dropped the torn tail of a write that was never acknowledged');
      else if (e.type === 'compaction-failed') log.error({ err: e.error, generation: e.generation }, 'state journal: compaction failed; the journal stays in use');
      else log.info(e, 'state journal compacted');
    },
  });
  log.info({ ...store.stats(), ms: Math.round(performance.now() - t0) }, 'state store opened');
  return store;
}
