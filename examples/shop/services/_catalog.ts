/**
 * What the shop sells, at what price, and how much of each it has when it opens. Shared by the
 * order service (prices), the inventory (opening stock) and the demo (to check the stock adds up).
 */

/** An article of the catalog. */
export interface Article {
  /** Price of one, in the shop's currency. */
  readonly price: number;
  /** Stock when the shop opens (the first reservation of the article sets it in the store). */
  readonly openingStock: number;
}

/**
 * The catalog, by SKU. Look an SKU up with {@link articleOf}, never `CATALOG[sku]`: an SKU is user
 * input, and `constructor`, `toString` or `__proto__` would find the object's prototype's members.
 */
export const CATALOG: Readonly<Record<string, Article>> = {
  tea: { price: 4.5, openingStock: 1_000_000 },
  mug: { price: 12, openingStock: 1_000_000 },
  kettle: { price: 39.9, openingStock: 1_000_000 },
  // Dear enough that a single one is above the card limit: its orders are declined and compensated.
  samovar: { price: 1850, openingStock: 100 },
};

/** The article of `sku`, or undefined when the catalog has none (own properties only). */
export function articleOf(sku: string): Article | undefined {
  return Object.hasOwn(CATALOG, sku) ? CATALOG[sku] : undefined;
}

/** Charges above this amount are declined by the payment service. */
export const CARD_LIMIT = 1000;

/** How long an order may stay pending before the sweep job cancels it. */
export const STALE_ORDER_MS = 120_000;

/** Store keys, in one place so the services agree on them. */
export const keys = {
  order: (orderId: string) => `shop:order:${orderId}`,
  /** The order a CreateOrder message made: a retry of the same message finds it. */
  orderByMessage: (messageId: string) => `shop:order-by-message:${messageId}`,
  /** Pending orders by creation time, for the sweep. */
  pending: "shop:orders:pending",
  stock: (sku: string) => `shop:stock:${sku}`,
  reservation: (orderId: string) => `shop:reservation:${orderId}`,
  payment: (paymentId: string) => `shop:payment:${paymentId}`,
} as const;
