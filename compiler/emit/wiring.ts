/**
 * The wiring emitter: `wiring.json`, everything the runtime needs (subjects, queue groups, delivery,
 * modes, leases, schedules, sagas, timeouts, idempotency, schema ids). Its shape is the runtime's
 * zod schema (runtime/wiring.ts), and every output is validated against it before it is returned, so
 * a compiler bug shows up at build time rather than as misrouted messages in production.
 */
import { createHash } from "node:crypto";
import { parseWiring, WIRING_VERSION, type Wiring } from "../../runtime/wiring.js";
import {
  type FieldModel,
  type MessageModel,
  serviceUsesRedis,
  type TopologyModel,
  type TypeUse,
} from "../model.js";
import { sagaTriggerConsumer, subscriptionConsumer } from "./_durable.js";
import type { EmitOptions, EmittedFile } from "./_files.js";
import { stableJson } from "./_json.js";
import {
  controlPrefix,
  DEFAULT_TIMEOUT_MS,
  deadLetterStream,
  deadLetterSubject,
  eventQueue,
  eventStream,
  healthPort,
  heartbeatSubject,
  inboxPrefix,
  leaderSubject,
  messageSubject,
  natsUser,
  redisHashTag,
  redisMaster,
} from "./_names.js";

/**
 * Added to a consuming service's timeout to get a durable consumer's ack wait: the handler's own
 * deadline passes first, so a slow handler fails (and is redelivered) rather than racing a second
 * delivery of the same event.
 */
export const ACK_WAIT_MARGIN_MS = 5_000;

/** Emits `wiring.json`. */
export function emitWiring(model: TopologyModel, options: EmitOptions): EmittedFile[] {
  return [wiringFile(buildWiring(model, options))];
}

/**
 * `wiring.json` of a wiring already built with {@link buildWiring}: for `emitAll`, which builds the
 * wiring once and hands the same value to the TypeScript emitter.
 */
export function wiringFile(wiring: Wiring): EmittedFile {
  return { path: "wiring.json", content: stableJson(wiring) };
}

/**
 * The wiring of a topology as a value, validated by the runtime's schema.
 *
 * @throws InvalidWiringError only on a compiler bug: the checker guarantees a consistent model.
 */
export function buildWiring(model: TopologyModel, options: EmitOptions): Wiring {
  return parseWiring(assembleWiring(model, options), "the emitted wiring");
}

/**
 * The wiring of a topology as a value, not validated: for emitters that read facts from it (schema
 * ids, deadlines, handler paths) so they cannot disagree with wiring.json. Validating is the job of
 * {@link buildWiring}, which `emitWiring` runs on every build; doing it again per emitter doubled
 * the cost of a build for nothing.
 */
export function assembleWiring(model: TopologyModel, options: EmitOptions): Wiring {
  const t = model.name;
  const messagesByName = new Map(model.messages.map((m) => [m.name, m]));
  const servicesByName = new Map(model.services.map((s) => [s.name, s]));
  const shapes = new Shapes(model);
  const needsRedis = model.services.some(serviceUsesRedis);

  const messages: Wiring["messages"] = {};
  for (const m of model.messages) {
    const handler = m.handledBy === undefined ? undefined : servicesByName.get(m.handledBy);
    messages[m.name] = {
      kind: m.kind,
      subject: messageSubject(t, m),
      schemaId: shapes.schemaId(m),
      idempotent: m.idempotent,
      fields: m.fields.map((f) => ({ name: f.name, type: typeUse(f.type) })),
      ...(m.result ? { result: typeUse(m.result) } : {}),
      ...(m.handledBy !== undefined ? { handledBy: m.handledBy } : {}),
      ...(m.kind !== "event" ? { timeoutMs: handler?.timeoutMs ?? DEFAULT_TIMEOUT_MS } : {}),
      ...(m.durable
        ? {
            durable: {
              stream: eventStream(t, m.name),
              retentionMs: m.durable.retentionMs,
              maxDeliver: m.durable.maxDeliver,
              replicas: m.durable.replicas,
              dedupWindowMs: m.durable.dedupWindowMs,
            },
          }
        : {}),
    };
  }

  /** How `service` takes the durable event `event` through `consumer` (absent: broadcast). */
  const durableConsumer = (service: TopologyModel["services"][number], event: string, consumer?: string) => {
    const settings = messagesByName.get(event)?.durable;
    if (settings === undefined) return {};
    return {
      durable: {
        stream: eventStream(t, event),
        ...(consumer !== undefined ? { consumer } : {}),
        ackWaitMs: (service.timeoutMs ?? DEFAULT_TIMEOUT_MS) + ACK_WAIT_MARGIN_MS,
        maxDeliver: settings.maxDeliver,
        deadLetterSubject: deadLetterSubject(t, service.name, event),
      },
    };
  };

  const services: Wiring["services"] = {};
  for (const s of model.services) {
    const subjectOf = (name: string) => messageSubject(t, messagesByName.get(name) as MessageModel);
    services[s.name] = {
      mode: s.mode,
      replicas: s.replicas,
      ...(s.mode === "leader"
        ? {
            leader: {
              leaseMs: s.leaseMs as number,
              redisHashTag: redisHashTag(t, s.name),
              releaseSubject: leaderSubject(t, s.name),
            },
          }
        : {}),
      ...(s.usesRedis ? { redisKeyScope: redisHashTag(t, s.name) } : {}),
      timeoutMs: s.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      healthPort: healthPort(s),
      handler: s.handler ?? `services/${s.name}.ts`,
      natsUser: natsUser(s.name),
      inboxPrefix: inboxPrefix(t, natsUser(s.name)),
      heartbeatSubject: heartbeatSubject(t, s.name),
      handles: s.handles.map((h) => ({
        message: h.message,
        subject: subjectOf(h.message),
        queue: h.queue,
        ...(h.saga !== undefined ? { saga: h.saga } : {}),
      })),
      subscriptions: s.subscriptions.map((sub) => ({
        event: sub.event,
        subject: subjectOf(sub.event),
        delivery: sub.delivery,
        ...(sub.delivery === "group" ? { queue: eventQueue(s.name) } : {}),
        // The consumer comes from _durable.ts, which the NATS permissions are derived from too.
        ...durableConsumer(s, sub.event, subscriptionConsumer(s, sub)),
      })),
      emits: [...s.emits],
      sends: [...s.sends],
      sagas: [...s.runs],
      schedules: s.schedules.map((j) => ({ job: j.job, intervalMs: j.intervalMs })),
    };
  }

  const sagas: Wiring["sagas"] = {};
  for (const g of model.sagas) {
    const runner = servicesByName.get(g.runBy);
    sagas[g.name] = {
      trigger: {
        kind: g.trigger.kind,
        name: g.trigger.name,
        ...(g.trigger.kind === "event" && runner !== undefined
          ? durableConsumer(runner, g.trigger.name, sagaTriggerConsumer(g))
          : {}),
      },
      runBy: g.runBy,
      steps: g.steps.map((step) => ({
        command: step.command,
        ...(step.compensate !== undefined ? { compensate: step.compensate } : {}),
        irreversible: step.irreversible,
        timeoutMs: step.timeoutMs ?? messages[step.command]?.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      })),
    };
  }

  const wiring: Wiring = {
    version: WIRING_VERSION,
    topology: t,
    source: options.sourceName,
    nats: { nodes: model.nats.nodes, ...(model.nats.url !== undefined ? { url: model.nats.url } : {}) },
    ...(needsRedis
      ? {
          redis: {
            mode: model.redis.mode,
            nodes: model.redis.nodes,
            ...(model.redis.url !== undefined ? { url: model.redis.url } : {}),
            ...(model.redis.mode === "sentinel" ? { master: redisMaster(model) } : {}),
          },
        }
      : {}),
    ...deadLetters(model),
    controlPrefix: controlPrefix(t),
    types: Object.fromEntries(
      model.types.map((ty) => [
        ty.name,
        { fields: ty.fields.map((f) => ({ name: f.name, type: typeUse(f.type) })) },
      ]),
    ),
    enums: Object.fromEntries(model.enums.map((e) => [e.name, { members: e.members.map((m) => m.name) }])),
    messages,
    services,
    sagas,
  };
  return wiring;
}

/**
 * The dead-letter stream, when some event is durable: it keeps dead letters as long as the longest
 * retention of a durable event and on as many replicas as the most replicated one, so no dead letter
 * is less safe than the event it came from.
 */
function deadLetters(model: TopologyModel): Pick<Wiring, "deadLetters"> {
  const durable = model.messages.flatMap((m) => (m.durable ? [m.durable] : []));
  if (durable.length === 0) return {};
  return {
    deadLetters: {
      stream: deadLetterStream(model.name),
      subjects: `${model.name}.dead.>`,
      retentionMs: Math.max(...durable.map((d) => d.retentionMs)),
      replicas: Math.max(...durable.map((d) => d.replicas)),
    },
  };
}

function typeUse(t: TypeUse): Wiring["messages"][string]["fields"][number]["type"] {
  return { kind: t.kind, name: t.name, listDepth: t.listDepth, optional: t.optional };
}

/**
 * Canonical descriptions of message shapes, for schema ids. A shape includes the declared types and
 * enums it uses, recursively (with a guard for recursive types), but not names of fields' docs or
 * anything else that does not change what goes over the wire.
 *
 * A shape is hashed as JSON text, written here in the exact form `JSON.stringify` gives the shape
 * object (`{ kind, fields: [[name, use]], result }`, a use being `{ list, optional }` plus `builtin`,
 * `enum` and `members`, or `type` and `fields`). A type that reaches no recursive type has one
 * description wherever it is used, so its fields are written once and reused: describing them again
 * for every use made schema ids most of the cost of the wiring. A type whose expansion stopped at the
 * guard depends on the path that led to it (the guard cuts a cycle where it is entered) and is
 * described again each time.
 */
class Shapes {
  private readonly types: Map<string, TopologyModel["types"][number]>;
  private readonly enums: Map<string, TopologyModel["enums"][number]>;
  /** The `fields` JSON of types that reach no recursive type. */
  private readonly typeFields = new Map<string, string | undefined>();
  /** The `members` JSON of each enum. */
  private readonly enumMembers = new Map<string, string | undefined>();
  /** How often the guard stopped an expansion since the current type started expanding. */
  private guardHits = 0;

  constructor(model: TopologyModel) {
    this.types = new Map(model.types.map((t) => [t.name, t]));
    this.enums = new Map(model.enums.map((e) => [e.name, e]));
  }

  schemaId(m: MessageModel): string {
    // The types being expanded: the guard against recursive types.
    const path = new Set<string>();
    const fields = this.fields(m.fields, path);
    const result = m.result ? this.use(m.result, path) : "null";
    const shape = `{"kind":${JSON.stringify(m.kind)},"fields":${fields},"result":${result}}`;
    const hash = createHash("sha256").update(shape).digest("hex").slice(0, 16);
    return `${m.name}@${hash}`;
  }

  /** `[[name, use], …]` of a field list. */
  private fields(fields: readonly FieldModel[], path: Set<string>): string {
    return `[${fields.map((f) => `[${JSON.stringify(f.name)},${this.use(f.type, path)}]`).join(",")}]`;
  }

  private use(t: TypeUse, path: Set<string>): string {
    const base = `{"list":${JSON.stringify(t.listDepth)},"optional":${JSON.stringify(t.optional)}`;
    const name = JSON.stringify(t.name);
    if (t.kind === "builtin") return `${base},"builtin":${name}}`;
    if (t.kind === "enum") {
      if (!this.enumMembers.has(t.name)) {
        const members = this.enums.get(t.name)?.members.map((x) => x.name);
        this.enumMembers.set(t.name, members === undefined ? undefined : JSON.stringify(members));
      }
      return withOptional(`${base},"enum":${name}`, "members", this.enumMembers.get(t.name));
    }
    if (path.has(t.name)) {
      this.guardHits++;
      return `${base},"type":${name}}`;
    }
    let fields = this.typeFields.get(t.name);
    if (fields === undefined && !this.typeFields.has(t.name)) {
      const outer = this.guardHits;
      this.guardHits = 0;
      path.add(t.name);
      const decl = this.types.get(t.name);
      fields = decl === undefined ? undefined : this.fields(decl.fields, path);
      path.delete(t.name);
      if (this.guardHits === 0) this.typeFields.set(t.name, fields);
      this.guardHits += outer;
    }
    return withOptional(`${base},"type":${name}`, "fields", fields);
  }
}

/** Closes an object's JSON, with a last property that JSON.stringify would leave out when undefined. */
function withOptional(open: string, key: string, json: string | undefined): string {
  return json === undefined ? `${open}}` : `${open},${JSON.stringify(key)}:${json}}`;
}
