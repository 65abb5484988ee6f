/**
 * The coordinator: one leader, two standbys. Its leader runs the PlaceOrder saga for every
 * OrderCreated (accept the order, reserve the stock, charge, confirm; undo in reverse when a step
 * fails) and the `sweepStaleOrders` job every 30 s, once per tick across the cluster. It keeps no
 * shop data of its own: the saga carries what it needs in its state (from OrderCreated), and the
 * sweep asks the order service, which owns the orders, to cancel the stale ones.
 */
import { defineCoordinator, type OrderItem } from "../out/shop/client.js";
import { STALE_ORDER_MS } from "./_catalog.js";

/** The PlaceOrder saga's state: plain JSON, persisted after every step. */
interface PlaceOrderState {
  sagaId: string;
  orderId: string;
  total: number;
  items: OrderItem[];
  /** Set once the charge succeeded. */
  paymentId: string | null;
}

/** Orders one CancelStaleOrders request looks at. */
const SWEEP_BATCH = 100;

export default defineCoordinator({
  sagas: {
    placeOrder: {
      start: (event, saga): PlaceOrderState => ({
        sagaId: saga.sagaId,
        orderId: event.orderId,
        total: event.total,
        items: event.items,
        paymentId: null,
      }),
      steps: {
        acceptOrder: {
          input: (s) => ({ orderId: s.orderId, sagaId: s.sagaId }),
          compensate: (s) => ({ orderId: s.orderId, sagaId: s.sagaId }),
        },
        reserveStock: {
          input: (s) => ({ orderId: s.orderId, items: s.items }),
          compensate: (s) => ({ orderId: s.orderId }),
        },
        chargePayment: {
          input: (s) => ({ orderId: s.orderId, amount: s.total }),
          fold: (s, paymentId) => ({ ...s, paymentId }),
          compensate: (s) => ({ orderId: s.orderId }),
        },
        confirmOrder: {
          input: (s) => ({ orderId: s.orderId, sagaId: s.sagaId }),
          // Only when it ran out of time (it may have paid the order): a refused confirmation (the
          // sweep cancelled the order) changed nothing.
          compensate: (s) => ({ orderId: s.orderId, sagaId: s.sagaId }),
        },
      },
    },
  },
  jobs: {
    /**
     * Cancels orders still pending after STALE_ORDER_MS: their saga never ran, or is stuck. The
     * order service does the cancelling (the orders are its data); a saga still running then finds
     * its order cancelled at ConfirmOrder and refunds and releases. Safe to run twice (a deposed
     * leader finishing a run): an order leaves `pending` at most once.
     */
    async sweepStaleOrders(ctx) {
      let cancelled = 0;
      for (;;) {
        if (!ctx.isLeader || ctx.signal.aborted) break;
        const r = await ctx.send.cancelStaleOrders({ olderThanMs: STALE_ORDER_MS, limit: SWEEP_BATCH });
        cancelled += r.cancelled;
        if (!r.more) break;
      }
      if (cancelled > 0)
        ctx.log.info("cancelled stale orders", { cancelled, fencingToken: ctx.fencingToken });
    },
  },
});
