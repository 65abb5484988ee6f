/**
 * What the shop sells, at what price, and how much of each it has when it opens. Shared by the
 * order service (prices), the inventory (opening stock) and the demo (to check the stock adds up);
 * and where each service keeps its data (`keyTag`, `keys`).
 */
import { inventoryRedisScope, orderRedisScope, paymentRedisScope } from "../out/shop/client.js";

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

/** The services that keep data of their own (`uses redis` in shop.catga). */
export type DataService = "order" | "inventory" | "payment";

const SCOPES: Readonly<Record<DataService, string>> = {
  order: orderRedisScope,
  inventory: inventoryRedisScope,
  payment: paymentRedisScope,
};

/**
 * The Redis hash tag of a service's keys, `{catga:shop:<service>}`, as the generated code gives it
 * for every `uses redis` service: the one prefix the service's Redis user may touch (its ACL is
 * `~{catga:shop:order}*` and so on), and one Cluster slot per service. The runtime keeps a
 * leader-mode service's lease, token and saga records under the same kind of tag (`<tag>:lease`,
 * `<tag>:token`, `<tag>:data:…`), so the shop's own keys go under `<tag>:shop:` to stay clear of them.
 */
export function keyTag(service: DataService): string {
  return SCOPES[service];
}

const under = (service: DataService) => `${keyTag(service)}:shop:`;
const ORDER = under("order");
const INVENTORY = under("inventory");
const PAYMENT = under("payment");

/**
 * Store keys, in one place so each service's keys stay under its own tag. A service reads and
 * writes only its own group; what another service knows reaches it in a message.
 */
export const keys = {
  order: {
    order: (orderId: string) => `${ORDER}order:${orderId}`,
    /** The order a CreateOrder message made: a retry of the same message finds it. */
    byMessage: (messageId: string) => `${ORDER}order-by-message:${messageId}`,
    /** Pending orders by creation time, for the sweep. */
    pending: `${ORDER}orders:pending`,
  },
  inventory: {
    stock: (sku: string) => `${INVENTORY}stock:${sku}`,
    reservation: (orderId: string) => `${INVENTORY}reservation:${orderId}`,
  },
  payment: {
    /** The payment of an order (an order is charged at most once). */
    payment: (orderId: string) => `${PAYMENT}payment:${orderId}`,
  },
} as const;
