/**
 * The wiring: everything a running instance needs to know about its topology, as emitted by
 * `catgac build` into `wiring.json`. The runtime reads nothing else about the topology, so a deployed
 * service needs only this file, the runtime and its handler module.
 *
 * This schema is the contract between the compiler and the runtime. The compiler imports it (and
 * nothing else from runtime/) to validate every build output; the runtime validates the file at start
 * so a hand-edited or stale wiring fails with a clear message instead of misrouting messages.
 *
 * Records are keyed by name and sorted; lists keep declaration order where it means something (saga
 * steps, fields, enum members).
 */
import { z } from "zod";

/**
 * The wiring format version. Bump it on any incompatible change; the runtime refuses other versions,
 * because an instance misreading subjects or queue groups would silently split a service's traffic.
 */
export const WIRING_VERSION = 1;

const name = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a .catga identifier");
const subject = z.string().regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/, "a NATS subject without wildcards");
const positiveMs = z.number().int().positive();

/** A type as used by a field or a result: the portable form of the language's type references. */
export const typeUseSchema = z.strictObject({
  /** `builtin` (string int float bool timestamp), a declared `type` (record) or `enum`. */
  kind: z.enum(["builtin", "type", "enum"]),
  name,
  /** How many `[]` follow the name. */
  listDepth: z.number().int().min(0),
  /** `T?`: may be absent (a result: may be null). */
  optional: z.boolean(),
});

/** A field of a type or message. */
export const fieldSchema = z.strictObject({ name, type: typeUseSchema });

/** A message (command, query or event) as the runtime routes and validates it. */
export const wiringMessageSchema = z.strictObject({
  kind: z.enum(["command", "query", "event"]),
  /** The subject requests are sent to or events are published on. */
  subject,
  /**
   * `<Name>@<hash>`: names the message's shape (its fields and result, with the types they use,
   * recursively). Two builds give the same id exactly when the shape is the same, so instances built
   * from different versions of a topology can tell that they disagree.
   */
  schemaId: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*@[0-9a-f]{16}$/),
  /** Clients may retry it (declared `idempotent`). */
  idempotent: z.boolean(),
  fields: z.array(fieldSchema),
  /** The reply type; absent for events and for commands without a result (the reply is null). */
  result: typeUseSchema.optional(),
  /** The service answering this command or query. Absent for events. */
  handledBy: name.optional(),
  /** The default deadline of a request, in milliseconds. Absent for events. */
  timeoutMs: positiveMs.optional(),
  /**
   * Present exactly for a `durable event`: the JetStream stream that stores it (its only subject is
   * the event's subject) and the stream's settings.
   */
  durable: z
    .strictObject({
      /** Stream name: `catga_<topology>_<Event>`. */
      stream: z.string().regex(/^[A-Za-z0-9_-]+$/),
      retentionMs: positiveMs,
      /** Deliveries to one consuming service before the event is dead-lettered. */
      maxDeliver: z.number().int().min(1),
      replicas: z.number().int().min(1).max(5),
      dedupWindowMs: positiveMs,
    })
    .optional(),
});

/**
 * How a service takes a durable event: from an event subscription (`on Event`) or as a saga's
 * trigger.
 */
export const durableConsumerSchema = z.strictObject({
  stream: z.string().regex(/^[A-Za-z0-9_-]+$/),
  /**
   * The durable pull consumer the service's instances share; absent for broadcast in p2p mode, where
   * each instance follows the stream with its own ordered consumer. A leader-mode service has one
   * even for `broadcast` (ignored in leader mode): its leader alone pulls.
   */
  consumer: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .optional(),
  /** An unacknowledged delivery is redelivered after this long (the service's timeout plus a margin). */
  ackWaitMs: positiveMs,
  maxDeliver: z.number().int().min(1),
  /** Where an event goes after its last failed delivery: `<topology>.dead.<service>.<Event>`. */
  deadLetterSubject: subject,
});

/** A command or query a service answers. */
export const handlerWiringSchema = z.strictObject({
  message: name,
  subject,
  /** NATS queue group shared by the service's instances: exactly one answers each request. */
  queue: z.string().min(1),
  /** Set when answering the command starts this saga. */
  saga: name.optional(),
});

/** An event a service consumes. */
export const subscriptionWiringSchema = z.strictObject({
  event: name,
  subject,
  /** `group`: one instance of the service per event, through {@link queue}. `broadcast`: every instance. */
  delivery: z.enum(["group", "broadcast"]),
  /** The queue group for `group` delivery; absent for broadcast. */
  queue: z.string().min(1).optional(),
  /**
   * Present exactly when the event is durable. `group` delivery: the durable pull consumer the
   * service's instances share (named after the service; only the leader pulls in leader mode).
   * `broadcast` in p2p mode: each instance follows the stream with its own ordered consumer, from
   * the first event published after it started; `consumer` is absent then.
   */
  durable: durableConsumerSchema.optional(),
});

/** Leader election settings of a leader-mode service. */
export const leaderWiringSchema = z.strictObject({
  /** Lease TTL: a leader that cannot renew within it has lost leadership. */
  leaseMs: positiveMs,
  /**
   * Redis hash tag shared by every key of this service's election, fencing and fenced store, so
   * scripts that touch several of them work on Redis Cluster.
   */
  redisHashTag: z.string().regex(/^\{[^{}]+\}$/),
  /** Where a leader announces a graceful release so standbys take over at once. */
  releaseSubject: subject,
});

/** A service: how its instances subscribe, what they may publish, and how they run. */
export const serviceWiringSchema = z.strictObject({
  mode: z.enum(["p2p", "leader"]),
  replicas: z.number().int().min(1),
  /** Present exactly in leader mode. */
  leader: leaderWiringSchema.optional(),
  /**
   * Present when the service says `uses redis`: the hash tag its own keys start with
   * (`{catga:shop:order}`), the only keys its Redis ACL user may touch.
   */
  redisKeyScope: z
    .string()
    .regex(/^\{[^{}]+\}$/)
    .optional(),
  /** Default deadline of the service's handlers, in milliseconds. */
  timeoutMs: positiveMs,
  /** Port of /healthz, /readyz and /metrics. */
  healthPort: z.number().int().min(1).max(65535),
  /** Handler module, relative to the topology file (`services/<service>.ts` by default). */
  handler: z.string().min(1),
  /** The NATS user its instances log in as (its permissions are derived from this wiring). */
  natsUser: z.string().min(1),
  /** Prefix of its reply inboxes, so its NATS user can be limited to its own replies. */
  inboxPrefix: subject,
  /** Where its instances publish heartbeats. */
  heartbeatSubject: subject,
  handles: z.array(handlerWiringSchema),
  subscriptions: z.array(subscriptionWiringSchema),
  /** Events it may publish. */
  emits: z.array(name),
  /** Commands and queries it may request. */
  sends: z.array(name),
  /** Sagas its leader runs. */
  sagas: z.array(name),
  /** Jobs its leader runs once per tick, cluster-wide. */
  schedules: z.array(z.strictObject({ job: name, intervalMs: positiveMs })),
});

/** A saga: its trigger, its runner and its ordered steps. */
export const sagaWiringSchema = z.strictObject({
  trigger: z.strictObject({
    kind: z.enum(["event", "command"]),
    name,
    /**
     * Present exactly when the trigger is a durable event: the runner's own durable consumer
     * (`<service>-<Saga>`, apart from any `on` consumer of the same service), pulled by its leader
     * only; a trigger is acknowledged once the saga's record is persisted.
     */
    durable: durableConsumerSchema.optional(),
  }),
  /** The leader-mode service whose leader runs it. */
  runBy: name,
  steps: z.array(
    z.strictObject({
      command: name,
      /** The command that undoes the step; absent when the step is irreversible. */
      compensate: name.optional(),
      irreversible: z.boolean(),
      /** The step's deadline. */
      timeoutMs: positiveMs,
    }),
  ),
});

/** The whole wiring file. */
export const wiringSchema = z.strictObject({
  /** Must equal {@link WIRING_VERSION}. */
  version: z.literal(WIRING_VERSION),
  topology: name,
  /** The topology file it was built from (base name). */
  source: z.string(),
  nats: z.strictObject({
    /** Servers of the emitted cluster (ignored when {@link url} is set). */
    nodes: z.number().int().min(1),
    /** An existing cluster's URLs, comma-separated, instead of emitted servers. */
    url: z.string().optional(),
  }),
  /** Absent when no service needs Redis (no leader-mode service). */
  redis: z
    .strictObject({
      mode: z.enum(["standalone", "sentinel", "cluster"]),
      nodes: z.number().int().min(1),
      url: z.string().optional(),
      /** Sentinel mode: the monitored primary's name. */
      master: z.string().optional(),
    })
    .optional(),
  /**
   * Present when the topology has a durable event: the stream holding every service's dead letters
   * (subjects `<topology>.dead.>`), kept as long as the longest retention of a durable event.
   */
  deadLetters: z
    .strictObject({
      stream: z.string().regex(/^[A-Za-z0-9_-]+$/),
      /** `<topology>.dead.>` */
      subjects: z.string().regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*\.>$/),
      retentionMs: positiveMs,
      replicas: z.number().int().min(1).max(5),
    })
    .optional(),
  /** Control subjects: heartbeats of every service and leader announcements live under this prefix. */
  controlPrefix: subject,
  types: z.record(name, z.strictObject({ fields: z.array(fieldSchema) })),
  enums: z.record(name, z.strictObject({ members: z.array(name) })),
  messages: z.record(name, wiringMessageSchema),
  services: z.record(name, serviceWiringSchema),
  sagas: z.record(name, sagaWiringSchema),
});

/** The parsed wiring. */
export type Wiring = z.infer<typeof wiringSchema>;

/** One message of the wiring. */
export type WiringMessage = z.infer<typeof wiringMessageSchema>;

/** One service of the wiring. */
export type WiringService = z.infer<typeof serviceWiringSchema>;

/** A wiring file failed validation: names the file and every problem with its JSON path. */
export class InvalidWiringError extends Error {
  override name = "InvalidWiringError";
  constructor(
    /** Where the wiring came from, for the message. */
    readonly source: string,
    /** Each problem: its path in the JSON and what is wrong. */
    readonly problems: readonly { path: string; message: string }[],
    options?: { cause?: unknown },
  ) {
    super(
      `${source} is not a valid Catga wiring (rebuild it with 'catgac build'):\n${problems
        .map((p) => `  ${p.path || "(root)"}: ${p.message}`)
        .join("\n")}`,
      options,
    );
  }
}

/**
 * Validates a wiring: the parsed JSON of `wiring.json`. Also checks what the schema alone cannot:
 * every name a service, saga or message refers to exists.
 *
 * @param source Where the value came from, used in the error message.
 * @throws InvalidWiringError when the value is not a valid wiring of this version.
 */
export function parseWiring(value: unknown, source = "wiring"): Wiring {
  const parsed = wiringSchema.safeParse(value);
  if (!parsed.success) {
    throw new InvalidWiringError(
      source,
      parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
      { cause: parsed.error },
    );
  }
  const problems = crossReferences(parsed.data);
  if (problems.length > 0) throw new InvalidWiringError(source, problems);
  return parsed.data;
}

function crossReferences(w: Wiring): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const need = (ok: boolean, path: string, message: string) => {
    if (!ok) problems.push({ path, message });
  };
  const isMessage = (n: string, kinds: readonly string[]) => kinds.includes(w.messages[n]?.kind ?? "");
  for (const [n, m] of Object.entries(w.messages)) {
    if (m.handledBy !== undefined)
      need(w.services[m.handledBy] !== undefined, `messages.${n}.handledBy`, "unknown service");
    for (const [i, f] of m.fields.entries()) checkType(f.type, `messages.${n}.fields.${i}.type`);
    if (m.result) checkType(m.result, `messages.${n}.result`);
  }
  for (const [n, t] of Object.entries(w.types)) {
    for (const [i, f] of t.fields.entries()) checkType(f.type, `types.${n}.fields.${i}.type`);
  }
  for (const [n, s] of Object.entries(w.services)) {
    need(
      (s.mode === "leader") === (s.leader !== undefined),
      `services.${n}.leader`,
      "present exactly in leader mode",
    );
    for (const [i, h] of s.handles.entries()) {
      need(
        isMessage(h.message, ["command", "query"]),
        `services.${n}.handles.${i}`,
        "not a command or query",
      );
    }
    for (const [i, sub] of s.subscriptions.entries()) {
      need(isMessage(sub.event, ["event"]), `services.${n}.subscriptions.${i}`, "not an event");
    }
    for (const e of s.emits) need(isMessage(e, ["event"]), `services.${n}.emits`, `'${e}' is not an event`);
    for (const c of s.sends)
      need(isMessage(c, ["command", "query"]), `services.${n}.sends`, `'${c}' is not a command or query`);
    for (const g of s.sagas) need(w.sagas[g] !== undefined, `services.${n}.sagas`, `unknown saga '${g}'`);
  }
  for (const [n, g] of Object.entries(w.sagas)) {
    need(w.services[g.runBy]?.mode === "leader", `sagas.${n}.runBy`, "not a leader-mode service");
    for (const [i, step] of g.steps.entries()) {
      need(isMessage(step.command, ["command"]), `sagas.${n}.steps.${i}.command`, "not a command");
      if (step.compensate !== undefined) {
        need(isMessage(step.compensate, ["command"]), `sagas.${n}.steps.${i}.compensate`, "not a command");
      }
    }
  }
  return problems;

  function checkType(t: z.infer<typeof typeUseSchema>, path: string): void {
    if (t.kind === "type") need(w.types[t.name] !== undefined, path, `unknown type '${t.name}'`);
    if (t.kind === "enum") need(w.enums[t.name] !== undefined, path, `unknown enum '${t.name}'`);
  }
}
