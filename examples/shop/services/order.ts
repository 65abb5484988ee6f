/**
 * Order intake, five peers behind one queue group: validates and prices an order, stores it as
 * `pending` and announces it with OrderCreated, which starts the PlaceOrder saga on the
 * coordinator's leader.
 */
import { randomUUID } from "node:crypto";
import { DomainError, defineOrder, type OrderResult } from "../out/shop/client.js";
import { articleOf, keys } from "./_catalog.js";
import { type OrderRecord, readOrder } from "./_orders.js";
import { store } from "./_store.js";

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
      const kv = store(ctx.log);
      // CreateOrder is idempotent: the client retries it (same message id) when a reply is late.
      // The first delivery claims the message id; a retry finds the order it made.
      const candidate = randomUUID();
      const claimed = await kv.setIfAbsent(keys.orderByMessage(ctx.messageId), candidate);
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
        };
        // If-absent even here: the first delivery may have written it since, and moved on.
        const prior = await kv.setIfAbsent(keys.order(orderId), JSON.stringify(fresh));
        if (prior === null) await kv.zadd(keys.pending, fresh.createdAt, orderId);
        order = prior === null ? fresh : (JSON.parse(prior) as OrderRecord);
      }
      // Announced again on a retry too: the first delivery may have stored the order and died
      // before announcing it. Everything downstream is idempotent per order, so twice is harmless.
      await ctx.emit.orderCreated({ orderId: order.orderId, total: order.total });
      return { orderId: order.orderId, status: order.status } satisfies OrderResult;
    },

    async getOrder(input, ctx) {
      const order = await readOrder(store(ctx.log), input.orderId);
      return order === null ? null : { orderId: order.orderId, status: order.status };
    },
  },
});
