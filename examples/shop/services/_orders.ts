/**
 * Orders as the order service keeps them (under its own keys: no other service reads them), and
 * the one way an order changes: compare-and-set, so two requests changing the same order at once
 * (the saga confirming it, the sweep cancelling it) cannot both win.
 */
import type { OrderItem, OrderStatus } from "../out/shop/client.js";
import { keys } from "./_catalog.js";
import type { Kv } from "./_store.js";

/** An order in the store (JSON). */
export interface OrderRecord {
  orderId: string;
  customerId: string;
  items: OrderItem[];
  total: number;
  status: OrderStatus;
  /** Epoch milliseconds. */
  createdAt: number;
  /** The PlaceOrder saga that accepted the order (AcceptOrder); null until one did. */
  saga: string | null;
}

/** The order, or null when there is none. */
export async function readOrder(kv: Kv, orderId: string): Promise<OrderRecord | null> {
  const text = await kv.get(keys.order.order(orderId));
  return text === null ? null : (JSON.parse(text) as OrderRecord);
}

/**
 * Changes the order as `change` says, atomically: `change` gets the order as it is and returns it
 * changed, or `undefined` to leave it alone (it is then called again only if the order changed
 * meanwhile). Resolves with the order as it is now (null when there is none) and whether this call
 * changed it. An order leaving `pending` leaves the sweep's index too.
 */
export async function updateOrder(
  kv: Kv,
  orderId: string,
  change: (order: OrderRecord) => OrderRecord | undefined,
): Promise<{ order: OrderRecord | null; changed: boolean }> {
  const key = keys.order.order(orderId);
  for (;;) {
    const text = await kv.get(key);
    if (text === null) return { order: null, changed: false };
    const order = JSON.parse(text) as OrderRecord;
    const next = change(order);
    if (next === undefined) return { order, changed: false };
    if (await kv.compareAndSet(key, text, JSON.stringify(next))) {
      if (order.status === "pending" && next.status !== "pending") await kv.zrem(keys.order.pending, orderId);
      return { order: next, changed: true };
    }
    // Someone changed it between the read and the write: read again.
  }
}
