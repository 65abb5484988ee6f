/**
 * Payments: charges an order (ChargePayment, step 2 of the PlaceOrder saga) and refunds a payment
 * (RefundPayment, its compensation).
 *
 * An order is charged at most once: its payment id is derived from the order id, and the charge is
 * recorded with set-if-absent, so a redelivered step (or a second saga for the same order) gets the
 * same payment back instead of charging again. A refund turns `charged` into `refunded` once.
 */
import { DomainError, definePayment } from "../out/shop/client.js";
import { CARD_LIMIT, keys } from "./_catalog.js";
import { moveOrder, readOrder } from "./_orders.js";
import { store } from "./_store.js";

/** A payment in the store (JSON). */
interface PaymentRecord {
  paymentId: string;
  orderId: string;
  amount: number;
  status: "charged" | "refunded";
  chargedAt: number;
}

export default definePayment({
  handlers: {
    async chargePayment(input, ctx) {
      if (!(input.amount > 0)) throw new DomainError("BAD_AMOUNT", "the amount must be positive");
      if (input.amount > CARD_LIMIT) {
        throw new DomainError("PAYMENT_DECLINED", `${input.amount} is above the card limit of ${CARD_LIMIT}`);
      }
      const kv = store(ctx.log);
      const order = await readOrder(kv, input.orderId);
      if (order === null) throw new DomainError("UNKNOWN_ORDER", `no order '${input.orderId}'`);
      if (order.status === "cancelled") {
        throw new DomainError("ORDER_CANCELLED", `order ${input.orderId} was cancelled`);
      }
      const paymentId = `pay_${input.orderId}`;
      const record: PaymentRecord = {
        paymentId,
        orderId: input.orderId,
        amount: input.amount,
        status: "charged",
        chargedAt: Date.now(),
      };
      const earlier = await kv.setIfAbsent(keys.payment(paymentId), JSON.stringify(record));
      if (earlier !== null && (JSON.parse(earlier) as PaymentRecord).status === "refunded") {
        throw new DomainError("PAYMENT_REFUNDED", `the payment of order ${input.orderId} was refunded`);
      }
      await moveOrder(kv, input.orderId, ["pending"], "paid");
      return paymentId;
    },

    async refundPayment(input, ctx) {
      const kv = store(ctx.log);
      const text = await kv.get(keys.payment(input.paymentId));
      if (text === null) throw new DomainError("UNKNOWN_PAYMENT", `no payment '${input.paymentId}'`);
      const payment = JSON.parse(text) as PaymentRecord;
      if (payment.status === "refunded") return;
      const refunded = JSON.stringify({ ...payment, status: "refunded" } satisfies PaymentRecord);
      if (await kv.compareAndSet(keys.payment(input.paymentId), text, refunded)) {
        ctx.log.info("refunded", { paymentId: payment.paymentId, amount: payment.amount });
      }
      await moveOrder(kv, payment.orderId, ["pending", "paid"], "cancelled");
    },
  },
});
