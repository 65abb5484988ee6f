/**
 * Payments: charges an order (ChargePayment, step 3 of the PlaceOrder saga) and refunds it
 * (RefundPayment, its compensation). The payment service knows nothing of orders but what the
 * saga sends: the order id and the amount.
 *
 * An order is charged at most once: its payment is keyed by the order id and recorded with
 * set-if-absent, so a redelivered step gets the same payment back instead of charging again. A
 * refund turns `charged` into `refunded` once; a refund that comes before any charge (a charge that
 * ran out of time is compensated without knowing whether it happened) records `refunded`, so a
 * charge delivered after it is refused instead of taking money nobody will give back.
 */
import { DomainError, definePayment } from "../out/shop/client.js";
import { CARD_LIMIT, keys } from "./_catalog.js";
import { store } from "./_store.js";

/** A payment in the store (JSON); `amount` and `chargedAt` are null for a refund that came first. */
interface PaymentRecord {
  paymentId: string;
  orderId: string;
  amount: number | null;
  status: "charged" | "refunded";
  chargedAt: number | null;
}

const paymentIdOf = (orderId: string) => `pay_${orderId}`;

export default definePayment({
  handlers: {
    async chargePayment(input, ctx) {
      if (!(input.amount > 0)) throw new DomainError("BAD_AMOUNT", "the amount must be positive");
      if (input.amount > CARD_LIMIT) {
        throw new DomainError("PAYMENT_DECLINED", `${input.amount} is above the card limit of ${CARD_LIMIT}`);
      }
      const kv = store(ctx);
      const record: PaymentRecord = {
        paymentId: paymentIdOf(input.orderId),
        orderId: input.orderId,
        amount: input.amount,
        status: "charged",
        chargedAt: Date.now(),
      };
      const earlier = await kv.setIfAbsent(keys.payment.payment(input.orderId), JSON.stringify(record));
      if (earlier !== null && (JSON.parse(earlier) as PaymentRecord).status === "refunded") {
        throw new DomainError("PAYMENT_REFUNDED", `the payment of order ${input.orderId} was refunded`);
      }
      return record.paymentId;
    },

    async refundPayment(input, ctx) {
      const kv = store(ctx);
      const key = keys.payment.payment(input.orderId);
      const tombstone: PaymentRecord = {
        paymentId: paymentIdOf(input.orderId),
        orderId: input.orderId,
        amount: null,
        status: "refunded",
        chargedAt: null,
      };
      for (;;) {
        const text = await kv.setIfAbsent(key, JSON.stringify(tombstone));
        if (text === null) return; // never charged: nothing to give back, and now never will be
        const payment = JSON.parse(text) as PaymentRecord;
        if (payment.status === "refunded") return;
        const refunded = JSON.stringify({ ...payment, status: "refunded" } satisfies PaymentRecord);
        if (await kv.compareAndSet(key, text, refunded)) {
          ctx.log.info("refunded", { paymentId: payment.paymentId, amount: payment.amount });
          return;
        }
      }
    },
  },
});
