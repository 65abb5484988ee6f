/**
 * Order intake, five peers behind one queue group, and the only service that reads or writes
 * orders. CreateOrder validates and prices an order, stores it as `pending` and announces it with
 * OrderCreated (with its items and total: the other services never read the order), which starts
 * the PlaceOrder saga on the coordinator's leader. The saga moves the order through commands:
 * AcceptOrder (first step: the order becomes that saga's), ConfirmOrder (last step: paid) and
 * CancelOrder (their compensation). CancelStaleOrders is the coordinator's sweep.
 */
import { randomUUID } from "node:crypto";
import { DomainError, defineOrder, type OrderResult } from "../out/shop/client.js";
import { articleOf, keys } from "./_catalog.js";
import { type OrderRecord, readOrder, updateOrder } from "./_orders.js";
import { store } from "./_store.js";

/** The most orders one CancelStaleOrders looks at. */
const MAX_SWEEP = 1000;

const unknown = (orderId: string) => new DomainError("UNKNOWN_ORDER", `no order '${orderId}'`);

export default defineOrder({
  handlers: {
    async createOrder(input, ctx) {
      if (input.items.length === 0) throw new DomainError("EMPTY_ORDER", "an order needs at least one item");
      let total = 0;
      for (const item of input.items) {
        const article = articleOf(item.sku);
        if (article === undefined) throw new DomainError("UNKNOWN_SKU", `no article '${item.sku}'`);
        if (!(item.qty > 0)) throw new DomainError("BAD_QUANTITY", `quantity of '${item.sku}' must be ≥ 1`);
        total += article.price * item.qty;
      }
      const kv = store(ctx);
      // CreateOrder is idempotent: the client retries it (same message id) when a reply is late.
      // The first delivery claims the message id; a retry finds the order it made.
      const candidate = randomUUID();
      const claimed = await kv.setIfAbsent(keys.order.byMessage(ctx.messageId), candidate);
      const orderId = claimed ?? candidate;
      // A retry whose first delivery died between the claim and the write writes the order itself.
      let order = claimed === null ? null : await readOrder(kv, orderId);
      if (order === null) {
        const fresh: OrderRecord = {
          orderId,
          customerId: input.customerId,
          items: input.items,
          total: Math.round(total * 100) / 100,
          status: "pending",
          createdAt: Date.now(),
          saga: null,
        };
        // If-absent even here: the first delivery may have written it since, and moved on.
        const prior = await kv.setIfAbsent(keys.order.order(orderId), JSON.stringify(fresh));
        if (prior === null) await kv.zadd(keys.order.pending, fresh.createdAt, orderId);
        order = prior === null ? fresh : (JSON.parse(prior) as OrderRecord);
      }
      // Announced again on a retry too: the first delivery may have stored the order and died
      // before announcing it. The event's id derives from this message's, so the stream keeps one.
      await ctx.emit.orderCreated({ orderId: order.orderId, total: order.total, items: order.items });
      return { orderId: order.orderId, status: order.status } satisfies OrderResult;
    },

    async getOrder(input, ctx) {
      const order = await readOrder(store(ctx), input.orderId);
      return order === null ? null : { orderId: order.orderId, status: order.status };
    },

    async acceptOrder(input, ctx) {
      // The order becomes this saga's: should a second saga ever start for it, it is refused here
      // before it reserves or charges anything, and it can neither confirm nor cancel the order.
      const { order } = await updateOrder(store(ctx), input.orderId, (o) => {
        if (o.status !== "pending") {
          throw new DomainError("ORDER_NOT_PENDING", `order ${o.orderId} is ${o.status}`);
        }
        if (o.saga === input.sagaId) return undefined;
        if (o.saga !== null) throw new DomainError("ORDER_TAKEN", `order ${o.orderId} is saga ${o.saga}'s`);
        return { ...o, saga: input.sagaId };
      });
      if (order === null) throw unknown(input.orderId);
    },

    async confirmOrder(input, ctx) {
      const { order } = await updateOrder(store(ctx), input.orderId, (o) => {
        if (o.saga !== input.sagaId)
          throw new DomainError("ORDER_TAKEN", `order ${o.orderId} is not this saga's`);
        if (o.status === "paid") return undefined;
        // The sweep cancelled it while the saga ran: the saga refunds and releases.
        if (o.status !== "pending")
          throw new DomainError("ORDER_CANCELLED", `order ${o.orderId} was ${o.status}`);
        return { ...o, status: "paid" };
      });
      if (order === null) throw unknown(input.orderId);
    },

    async cancelOrder(input, ctx) {
      // A compensation: it must also accept undoing a step that never happened (no order, or one
      // no saga accepted yet), and leave an order another saga owns alone.
      const { changed } = await updateOrder(store(ctx), input.orderId, (o) => {
        if (o.status === "cancelled") return undefined;
        if (o.saga !== null && o.saga !== input.sagaId) return undefined;
        // `paid` too: a ConfirmOrder that ran out of time may have paid it; the saga refunds it.
        return { ...o, status: "cancelled", saga: input.sagaId };
      });
      if (changed) ctx.log.debug("order cancelled by its saga", { orderId: input.orderId });
    },

    async cancelStaleOrders(input, ctx) {
      if (!(input.olderThanMs >= 0)) throw new DomainError("BAD_AGE", "olderThanMs must be ≥ 0");
      if (!(input.limit >= 1)) throw new DomainError("BAD_LIMIT", "limit must be ≥ 1");
      const kv = store(ctx);
      const limit = Math.min(input.limit, MAX_SWEEP);
      const stale = await kv.zrangeUpTo(keys.order.pending, Date.now() - input.olderThanMs, limit);
      let cancelled = 0;
      for (const orderId of stale) {
        // Whoever's saga it is: a saga still running finds it cancelled at ConfirmOrder and undoes
        // its reservation and charge. An order that left `pending` meanwhile is only unindexed.
        const { changed } = await updateOrder(kv, orderId, (o) =>
          o.status === "pending" ? { ...o, status: "cancelled" } : undefined,
        );
        if (changed) cancelled++;
        else await kv.zrem(keys.order.pending, orderId);
      }
      return { cancelled, more: stale.length === limit };
    },
  },
});
