/**
 * Stock: puts an order's items aside (ReserveStock, step 2 of the PlaceOrder saga) and gives them
 * back (ReleaseStock, its compensation), exactly once per order however often either arrives. The
 * items come in the message (the saga has them from OrderCreated): the inventory never reads an
 * order, only its own stock and reservations.
 *
 * A reservation is a key per order holding what it took (`reserved`, with the items), or
 * `released`. Reserving takes the stock first and then claims the key; a delivery that finds the
 * key already claimed gives its stock back, so two deliveries of one ReserveStock (a redelivered
 * saga step) reserve once, and a reservation arriving after its release (a step that ran out of
 * time, compensated, then delivered late) takes nothing.
 */
import { DomainError, defineInventory, type OrderItem } from "../out/shop/client.js";
import { articleOf, keys } from "./_catalog.js";
import { type Kv, store } from "./_store.js";

/** A reservation in the store (JSON). */
type Reservation = { status: "reserved"; items: OrderItem[] } | { status: "released" };

const RELEASED = JSON.stringify({ status: "released" } satisfies Reservation);

/** Takes `qty` of each item or nothing: what was taken is put back when one item is short. */
async function take(kv: Kv, items: readonly OrderItem[]): Promise<string | undefined> {
  const taken: OrderItem[] = [];
  for (const item of items) {
    const opening = articleOf(item.sku)?.openingStock ?? 0;
    await kv.setIfAbsent(keys.inventory.stock(item.sku), String(opening));
    const left = await kv.incrBy(keys.inventory.stock(item.sku), -item.qty);
    taken.push(item);
    if (left < 0) {
      await give(kv, taken);
      return item.sku;
    }
  }
  return undefined;
}

async function give(kv: Kv, items: readonly OrderItem[]): Promise<void> {
  for (const item of items) await kv.incrBy(keys.inventory.stock(item.sku), item.qty);
}

export default defineInventory({
  handlers: {
    async reserveStock(input, ctx) {
      if (input.items.length === 0) throw new DomainError("EMPTY_ORDER", "nothing to reserve");
      for (const item of input.items) {
        if (articleOf(item.sku) === undefined)
          throw new DomainError("UNKNOWN_SKU", `no article '${item.sku}'`);
        if (!(item.qty > 0)) throw new DomainError("BAD_QUANTITY", `quantity of '${item.sku}' must be ≥ 1`);
      }
      const kv = store(ctx);
      const short = await take(kv, input.items);
      if (short !== undefined) {
        throw new DomainError("OUT_OF_STOCK", `not enough '${short}' for order ${input.orderId}`);
      }
      const reservation: Reservation = { status: "reserved", items: input.items };
      const earlier = await kv.setIfAbsent(
        keys.inventory.reservation(input.orderId),
        JSON.stringify(reservation),
      );
      if (earlier === null) return;
      // Reserved by an earlier delivery, or released already (a compensation came first): either
      // way this delivery must not hold stock.
      await give(kv, input.items);
      if ((JSON.parse(earlier) as Reservation).status === "released") {
        throw new DomainError("RESERVATION_RELEASED", `the stock of order ${input.orderId} was released`);
      }
    },

    async releaseStock(input, ctx) {
      const kv = store(ctx);
      const key = keys.inventory.reservation(input.orderId);
      for (;;) {
        // A release that comes before any reservation marks it released, so a late reservation
        // takes nothing.
        const text = (await kv.setIfAbsent(key, RELEASED)) ?? RELEASED;
        const reservation = JSON.parse(text) as Reservation;
        if (reservation.status === "released") return;
        // Only the delivery that turns `reserved` into `released` gives the stock back.
        if (await kv.compareAndSet(key, text, RELEASED)) {
          await give(kv, reservation.items);
          return;
        }
      }
    },
  },
});
