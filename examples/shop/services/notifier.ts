/**
 * Tells the customer their order was received. Every notifier instance hears every OrderCreated
 * (`on OrderCreated broadcast`): think of one instance per channel (mail, push, the shop's
 * dashboard). OrderCreated can arrive twice for one order (order intake announces again when a
 * request is retried), so each instance notifies once per order.
 */
import { defineNotifier } from "../out/shop/client.js";

interface Channel {
  /** Orders notified lately, to drop duplicates. */
  recent: Set<string>;
  /** Notifications sent. */
  sent: number;
}

/** By instance: in one process (`--memory`, the demo) there are several. */
const channels = new Map<string, Channel>();
// Bounded memory: a duplicate comes within seconds of the original, not this many orders later.
const REMEMBER = 100_000;

/** How many notifications each instance of this process has sent, by instance id. */
export function notificationsSent(): Record<string, number> {
  return Object.fromEntries([...channels].map(([instance, c]) => [instance, c.sent]));
}

export default defineNotifier({
  events: {
    orderCreated(event, ctx) {
      let channel = channels.get(ctx.instance);
      if (channel === undefined) {
        channel = { recent: new Set(), sent: 0 };
        channels.set(ctx.instance, channel);
      }
      if (channel.recent.has(event.orderId)) return;
      if (channel.recent.size >= REMEMBER) channel.recent.clear();
      channel.recent.add(event.orderId);
      channel.sent++;
      ctx.log.debug("order received", { orderId: event.orderId, total: event.total });
    },
  },
});
