/**
 * The coordinator: one leader, two standbys. Its leader runs the PlaceOrder saga for every
 * OrderCreated (reserve the stock, then charge; when the charge fails, release the stock) and the
 * `sweepStaleOrders` job every 30 s, once per tick across the cluster.
 */
import { defineCoordinator } from "../out/shop/client.js";
import { keys, STALE_ORDER_MS } from "./_catalog.js";
import { moveOrder } from "./_orders.js";
import { store } from "./_store.js";

/** The PlaceOrder saga's state: plain JSON, persisted after every step. */
interface PlaceOrderState {
  orderId: string;
  total: number;
  /** Set once the charge succeeded. */
  paymentId: string | null;
}

export default defineCoordinator({
  sagas: {
    placeOrder: {
      start: (event): PlaceOrderState => ({ orderId: event.orderId, total: event.total, paymentId: null }),
      steps: {
        reserveStock: {
          input: (s) => ({ orderId: s.orderId }),
          compensate: (s) => ({ orderId: s.orderId }),
        },
        chargePayment: {
          input: (s) => ({ orderId: s.orderId, amount: s.total }),
          fold: (s, paymentId) => ({ ...s, paymentId }),
          // Runs only if a later step fails: there is none yet, but a shipping step would need it.
          compensate: (s) => ({ paymentId: s.paymentId ?? `pay_${s.orderId}` }),
        },
      },
    },
  },
  jobs: {
    /**
     * Cancels orders still pending after STALE_ORDER_MS: their saga failed before it changed
     * anything (out of stock), or never ran. Safe to run twice (a deposed leader finishing a run):
     * an order is moved from `pending` at most once.
     */
    async sweepStaleOrders(ctx) {
      const kv = store(ctx.log);
      let cancelled = 0;
      for (;;) {
        if (!ctx.isLeader || ctx.signal.aborted) break;
        const stale = await kv.zrangeUpTo(keys.pending, Date.now() - STALE_ORDER_MS, 100);
        if (stale.length === 0) break;
        for (const orderId of stale) {
          const { moved } = await moveOrder(kv, orderId, ["pending"], "cancelled");
          if (moved) cancelled++;
          // Paid or cancelled meanwhile (or never written): it has no business in the index.
          else await kv.zrem(keys.pending, orderId);
        }
      }
      if (cancelled > 0)
        ctx.log.info("cancelled stale orders", { cancelled, fencingToken: ctx.fencingToken });
    },
  },
});
