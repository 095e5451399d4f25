// Two connected in-memory Duplex streams: what one writes, the other reads (Node 20 has no stream.duplexPair).
import { Duplex } from 'node:stream';

export function duplexPair(): [Duplex, Duplex] {
  let a!: Duplex;
  let b!: Duplex;
  const make = (peer: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _enc, done) {
        peer().push(chunk);
        done();
      },
      final(done) {
        peer().push(null);
        done();
      },
      destroy(err, done) {
        const p = peer();
        if (!p.destroyed) p.destroy();
        done(err);
      },
    });
  a = make(() => b);
  b = make(() => a);
  return [a, b];
}
