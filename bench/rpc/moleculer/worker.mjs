/**
 * Moleculer in bench/rpc, over the same nats-server: an `echo` service whose action returns its
 * params, `broker.call("echo.echo", …)` for the caller, a `sink` service with a `tick` event
 * handler for the subscribers and `broker.broadcast("tick", …)` for the publisher. Default broker
 * settings (JSON serializer, Moleculer's own balancer, no validation of params), logging off.
 *
 * Plain JavaScript with its own package.json and lock (this folder), so Moleculer's dependencies
 * never meet catga's; run.ts installs them with `npm ci` when they are missing.
 */
import { randomUUID } from "node:crypto";
import moleculer from "moleculer";
import { main, PAYLOAD } from "../_worker.ts";

/** A started broker on `url`, with `services` created before it starts. */
async function broker(url, services = []) {
  const b = new moleculer.ServiceBroker({
    nodeID: `bench-${randomUUID().slice(0, 8)}`,
    transporter: { type: "NATS", options: { url } },
    logger: false,
  });
  for (const s of services) b.createService(s);
  await b.start();
  return b;
}

main({
  async responder(url) {
    const b = await broker(url, [{ name: "echo", actions: { echo: (ctx) => ctx.params } }]);
    return { close: () => b.stop() };
  },

  async caller(url) {
    const b = await broker(url);
    await b.waitForServices(["echo"], 10_000);
    return { call: () => b.call("echo.echo", PAYLOAD), close: () => b.stop() };
  },

  async subscriber(url, onEvent) {
    const b = await broker(url, [{ name: "sink", events: { tick: () => onEvent() } }]);
    return { close: () => b.stop() };
  },

  async publisher(url) {
    const b = await broker(url);
    // A broadcast goes to the nodes the broker knows: wait until it knows every subscriber.
    const subscribers = Number(process.env.BENCH_SUBSCRIBERS ?? "1");
    const deadline = Date.now() + 10_000;
    while (b.registry.events.getAllEndpoints("tick").length < subscribers) {
      if (Date.now() > deadline) throw new Error(`Moleculer found fewer than ${subscribers} subscribers`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return { publish: () => b.broadcast("tick", PAYLOAD), close: () => b.stop() };
  },
});
