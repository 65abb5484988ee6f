import { MemoryHub, memoryTransport } from "../../runtime/transport/memory.js";
import { durableEventsConformance } from "../fixtures/durable-events-conformance.js";

// Service hosts on the in-memory hub against the same suite as on a JetStream cluster
// (test/integration/durable-events.integration.test.ts).
durableEventsConformance("memory", async () => {
  const hub = new MemoryHub();
  return { connect: async () => memoryTransport(hub), stop: async () => {} };
});
