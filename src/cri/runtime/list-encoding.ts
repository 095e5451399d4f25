// List responses at 10,000 pods: each item's encoding is cached per record
// (records never change, so the cache never goes stale), and a response is the
// concatenation of its items' encodings. Encoding `{ items: [x] }` yields
// exactly the bytes of one repeated-field entry, and protobuf defines
// concatenated entries as the repeated field in order.
import { criServiceDefinition } from '../server.js';

export interface ItemEncoder<R extends object, T> {
  /** The entry's bytes for `record`, building and encoding the item only on a miss. */
  entry(record: R, build: (record: R) => T): Buffer;
}

export function itemEncoder<R extends object, T>(method: 'ListPodSandbox' | 'ListContainers', field: 'items' | 'containers'): ItemEncoder<R, T> {
  const serialize = criServiceDefinition('RuntimeService')[method]!.responseSerialize;
  const cache = new WeakMap<R, Buffer>();
  return {
    entry(record, build) {
      let bytes = cache.get(record);
      if (!bytes) {
        bytes = serialize({ [field]: [build(record)] });
        cache.set(record, bytes);
      }
      return bytes;
    },
  };
}
