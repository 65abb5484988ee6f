/**
 * Orders as the store keeps them, and the one way their status changes: compare-and-set, so two
 * services moving the same order at once (a payment and the sweep) cannot both win.
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
}

/** The order, or null when there is none. */
export async function readOrder(kv: Kv, orderId: string): Promise<OrderRecord | null> {
  const text = await kv.get(keys.order(orderId));
  return text === null ? null : (JSON.parse(text) as OrderRecord);
}

/**
 * Moves the order to `to` if its status is one of `from`; resolves with the order as it is now and
 * whether this call moved it. An order leaving `pending` leaves the sweep's index too.
 */
export async function moveOrder(
  kv: Kv,
  orderId: string,
  from: readonly OrderStatus[],
  to: OrderStatus,
): Promise<{ order: OrderRecord | null; moved: boolean }> {
  for (;;) {
    const text = await kv.get(keys.order(orderId));
    if (text === null) return { order: null, moved: false };
    const order = JSON.parse(text) as OrderRecord;
    if (!from.includes(order.status)) return { order, moved: false };
    const next = { ...order, status: to };
    if (await kv.compareAndSet(keys.order(orderId), text, JSON.stringify(next))) {
      if (order.status === "pending") await kv.zrem(keys.pending, orderId);
      return { order: next, moved: true };
    }
    // Someone changed it between the read and the write: read again.
  }
}
