/**
 * Stock: puts an order's items aside (ReserveStock, step 1 of the PlaceOrder saga) and gives them
 * back (ReleaseStock, its compensation), exactly once per order however often either arrives.
 *
 * A reservation is a key per order: `reserved`, or `released`. Reserving takes the stock first and
 * then claims the key; a delivery that finds the key already claimed gives its stock back, so two
 * deliveries of one ReserveStock (a redelivered saga step) reserve once.
 */
import { DomainError, defineInventory, type OrderItem } from "../out/shop/client.js";
import { articleOf, keys } from "./_catalog.js";
import { moveOrder, readOrder } from "./_orders.js";
import { type Kv, store } from "./_store.js";

/** Takes `qty` of each item or nothing: what was taken is put back when one item is short. */
async function take(kv: Kv, items: readonly OrderItem[]): Promise<string | undefined> {
  const taken: OrderItem[] = [];
  for (const item of items) {
    const opening = articleOf(item.sku)?.openingStock ?? 0;
    await kv.setIfAbsent(keys.stock(item.sku), String(opening));
    const left = await kv.incrBy(keys.stock(item.sku), -item.qty);
    taken.push(item);
    if (left < 0) {
      await give(kv, taken);
      return item.sku;
    }
  }
  return undefined;
}

async function give(kv: Kv, items: readonly OrderItem[]): Promise<void> {
  for (const item of items) await kv.incrBy(keys.stock(item.sku), item.qty);
}

export default defineInventory({
  handlers: {
    async reserveStock(input, ctx) {
      const kv = store(ctx.log);
      const order = await readOrder(kv, input.orderId);
      if (order === null) throw new DomainError("UNKNOWN_ORDER", `no order '${input.orderId}'`);
      const short = await take(kv, order.items);
      if (short !== undefined) {
        throw new DomainError("OUT_OF_STOCK", `not enough '${short}' for order ${order.orderId}`);
      }
      const earlier = await kv.setIfAbsent(keys.reservation(order.orderId), "reserved");
      if (earlier !== null) {
        // Reserved by an earlier delivery, or released already (a compensation came first): either
        // way this delivery must not hold stock.
        await give(kv, order.items);
        return earlier === "reserved";
      }
      return true;
    },

    async releaseStock(input, ctx) {
      const kv = store(ctx.log);
      const order = await readOrder(kv, input.orderId);
      if (order === null) throw new DomainError("UNKNOWN_ORDER", `no order '${input.orderId}'`);
      // Only the delivery that turns `reserved` into `released` gives the stock back; a release
      // that comes before any reservation marks it released, so a late reservation takes nothing.
      const wasReserved = await kv.compareAndSet(keys.reservation(order.orderId), "reserved", "released");
      if (wasReserved) await give(kv, order.items);
      else await kv.setIfAbsent(keys.reservation(order.orderId), "released");
      // The saga is undoing this order: it will not be paid for.
      await moveOrder(kv, order.orderId, ["pending"], "cancelled");
    },
  },
});
