import { MemoryHub, memoryTransport } from "../../runtime/transport/memory.js";
import { durableStreamsConformance } from "../fixtures/durable-streams-conformance.js";

// The in-memory streams against the same suite as JetStream (test/integration/durable-streams.integration.test.ts).
durableStreamsConformance("memory", async () => {
  const hub = new MemoryHub();
  return { connect: async () => memoryTransport(hub), stop: async () => {} };
});
