/**
 * Generates realistic topologies of any size for the compiler benchmark: every service has its own
 * types, an enum, commands and a query it handles, an event it emits and one it consumes from its
 * neighbour; one service in ten runs in leader mode with a saga and a scheduled job. The output is
 * deterministic and checks without errors or warnings, so the benchmark times the full real path.
 */

/** Every tenth service (offset 3, so 10 services already have one) is a leader running a saga. */
const LEADER_EVERY = 10;
const LEADER_OFFSET = 3;

/** Whether service `i` runs in leader mode. */
export function isLeader(i: number): boolean {
  return i % LEADER_EVERY === LEADER_OFFSET;
}

/**
 * A topology of `services` services (at least 4: sagas step through the next three services).
 * Names are suffixed with the service index, so each size is a superset of the smaller ones' shape.
 */
export function generateTopology(services: number): string {
  if (!Number.isInteger(services) || services < 4) {
    throw new RangeError(`generateTopology needs a whole number of services >= 4, got ${services}`);
  }
  const at = (i: number): number => ((i % services) + services) % services;
  const out: string[] = [
    `/// Generated benchmark topology with ${services} services.`,
    "topology bench",
    "",
    "nats { nodes 3 }",
    "redis { mode sentinel, nodes 3 }",
    "",
  ];
  for (let i = 0; i < services; i++) {
    out.push(
      `// ----- service ${i} -----`,
      `enum Status${i} { pending, active, done, failed }`,
      "",
      `type Item${i} {`,
      "  sku: string",
      "  qty: int",
      "  tags: string[]",
      "  note: string?",
      "}",
      "",
      `type Result${i} { id: string, status: Status${i}, items: Item${i}[], total: float }`,
      "",
      `/// Creates a record in service ${i}.`,
      `idempotent command Create${i} {`,
      "  customerId: string",
      `  items: Item${i}[]`,
      "  dueAt: timestamp?",
      `} -> Result${i}`,
      "",
      `command Cancel${i} { id: string, reason: string? }`,
      "",
      `idempotent query Get${i} { id: string } -> Result${i}?`,
      "",
      `event Created${i} {`,
      "  id: string",
      "  total: float",
      "  at: timestamp",
      "  urgent: bool",
      "}",
      "",
    );
    if (isLeader(i)) {
      out.push(
        `/// Coordinates the work of services ${at(i + 1)} to ${at(i + 3)}.`,
        `service svc${i} {`,
        "  mode leader",
        "  replicas 3",
        "  lease 10s",
        `  handles Create${i}, Get${i}, Cancel${i}`,
        `  on Created${at(i - 1)}`,
        `  emits Created${i}`,
        `  sends Get${at(i + 1)}`,
        `  runs Flow${i}`,
        `  every 30s sweep${i}`,
        `  image "registry.example.com/bench/svc${i}:1.0.0"`,
        "}",
        "",
        `saga Flow${i} {`,
        `  on Created${at(i - 1)}`,
        `  step Create${at(i + 1)} compensate Cancel${at(i + 1)} timeout 5s`,
        `  step Create${at(i + 2)} compensate Cancel${at(i + 2)}`,
        `  step Cancel${at(i + 3)} irreversible`,
        "}",
        "",
      );
    } else {
      out.push(
        `service svc${i} {`,
        `  replicas ${2 + (i % 4)}`,
        `  handles Create${i}, Get${i} queue "svc${i}-workers"`,
        `  handles Cancel${i}`,
        `  on Created${at(i - 1)}${i % 5 === 0 ? " broadcast" : ""}`,
        `  emits Created${i}`,
        `  sends Get${at(i + 1)}, Cancel${at(i + 1)}`,
        "  timeout 2s",
        `  port ${8000 + (i % 1000)}`,
        '  env { LOG_LEVEL "info" }',
        '  resources { cpu "250m" memory "128Mi" }',
        "}",
        "",
      );
    }
  }
  return out.join("\n");
}
