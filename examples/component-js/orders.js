// shop.v1.Orders in JavaScript, against the world `workd wit ../component-common/shop.proto`
// prints, built into a component by componentize-js (build.mjs). Values are
// jco's: records are objects with camelCase keys, `option` none is undefined,
// maps are arrays of [key, value], enums are kebab-case strings, s64 is a BigInt.
import { addTrailer } from 'workd:grpc/call@0.1.0';

// A module-level counter: it reads 1 on every call, because every call starts
// from the instance's pristine state.
let calls = 0;

function refuse(message) {
  // The function returns result<quote-response, grpc-status>: what it throws is the error.
  throw { code: 'invalid-argument', message };
}

export const orders = {
  quote(ctx, request) {
    calls++;
    if (request.items.length === 0) refuse('an order needs at least one item');
    const lines = request.items.map((item) => {
      if (item.quantity === 0) refuse('an order line has quantity 0');
      return { sku: item.sku, totalCents: BigInt(item.quantity) * item.unitCents };
    });
    let total = lines.reduce((sum, l) => sum + l.totalCents, 0n);
    let discountCents;
    if (request.coupon !== undefined) {
      discountCents = total / 10n;
      total -= discountCents;
    }
    const user = ctx.metadata.find(([k]) => k === 'x-user');
    console.log(`quote for ${request.customer}${user ? ` (${user[1]})` : ''}: ${lines.length} lines, ${total} cents`);
    addTrailer('x-lines', String(lines.length));
    const to = request.shipTo;
    return {
      lines,
      totalCents: total,
      discountCents,
      currency: request.currency,
      labels: request.labels,
      shipTo: to ? `${to.city}, ${to.country}` : '',
      calls,
    };
  },
};
