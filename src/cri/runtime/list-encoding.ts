// List responses at 10,000 pods: each item's encoding is cached per status
// snapshot (snapshots never change, so the cache never goes stale), and a
// response is the concatenation of its items' encodings. Encoding
// `{ items: [x] }` yields exactly the bytes of one repeated-field entry, and
// protobuf defines concatenated entries as the repeated field in order.
import type { PodStatus } from '../../pods/pod.js';
import { criServiceDefinition } from '../server.js';

export interface ItemEncoder<T> {
  /** The entry's bytes for `snapshot`, building and encoding the item only on a miss. */
  entry(snapshot: PodStatus, build: () => T): Buffer;
}

export function itemEncoder<T>(method: 'ListPodSandbox' | 'ListContainers', field: 'items' | 'containers'): ItemEncoder<T> {
  const serialize = criServiceDefinition('RuntimeService')[method]!.responseSerialize;
  const cache = new WeakMap<PodStatus, Buffer>();
  return {
    entry(snapshot, build) {
      let bytes = cache.get(snapshot);
      if (!bytes) {
        bytes = serialize({ [field]: [build()] });
        cache.set(snapshot, bytes);
      }
      return bytes;
    },
  };
}
