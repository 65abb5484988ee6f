import type { Field, TypeRef } from "../../dsl/index.js";
import type {
  DurableModel,
  FieldModel,
  MessageModel,
  SagaModel,
  ServiceModel,
  TopologyModel,
  TypeModel,
  TypeUse,
} from "../model.js";
import type { TopologyFacts } from "./rules.js";
import { DEFAULT_LEASE_MS, type InfraFacts } from "./settings.js";
import type { SymbolTable } from "./symbols.js";
import type { TypeFacts } from "./types.js";

/** Raised inside the builder when the facts are incomplete; caught below, never escapes. */
class Incomplete extends Error {
  override name = "Incomplete";
}

/**
 * Assembles the {@link TopologyModel} from what the checking passes learned. Call it only when they
 * reported no errors: then every name resolved and every setting is valid. Should the facts still be
 * incomplete (a checker bug), it returns undefined rather than a half-built model.
 */
export function buildModel(
  table: SymbolTable,
  types: TypeFacts,
  infra: InfraFacts,
  topology: TopologyFacts,
  durable: ReadonlyMap<string, DurableModel>,
): TopologyModel | undefined {
  try {
    return assemble(table, types, infra, topology, durable);
  } catch (error) {
    if (error instanceof Incomplete) return undefined;
    throw error;
  }
}

function assemble(
  table: SymbolTable,
  types: TypeFacts,
  infra: InfraFacts,
  topology: TopologyFacts,
  durable: ReadonlyMap<string, DurableModel>,
): TopologyModel {
  const decl = table.topology;
  if (decl === undefined) throw new Incomplete("no topology");

  const use = (ref: TypeRef): TypeUse => {
    const resolved = types.resolved.get(ref);
    if (resolved === undefined) throw new Incomplete(`unresolved type '${ref.name.text}'`);
    // Not copied: each reference node has its own object, and the type pass is discarded after.
    return resolved;
  };
  const fields = (list: readonly Field[]): FieldModel[] =>
    list.map((f) => ({ name: f.name.text, ...doc(f), type: use(f.type) }));

  const model: TopologyModel = {
    name: decl.name.text,
    source: table.file,
    ...doc(decl),
    nats: { ...infra.nats },
    redis: { ...infra.redis },
    types: [],
    enums: [],
    messages: [],
    services: [],
    sagas: [],
  };

  model.types = table.types.map(
    (t): TypeModel => ({ name: t.name.text, ...doc(t), fields: fields(t.fields) }),
  );
  model.enums = table.enums.map((e) => ({
    name: e.name.text,
    ...doc(e),
    members: e.members.map((m) => ({ name: m.name.text, ...doc(m) })),
  }));
  const durableOf = (name: string): { durable?: DurableModel } => {
    const settings = durable.get(name);
    return settings === undefined ? {} : { durable: { ...settings } };
  };
  model.messages = table.messages.map((m): MessageModel => {
    const handler = topology.handlerOf.get(m.name.text);
    if (m.messageKind !== "event" && handler === undefined)
      throw new Incomplete(`no handler for '${m.name.text}'`);
    return {
      name: m.name.text,
      ...doc(m),
      kind: m.messageKind,
      idempotent: m.idempotent !== undefined,
      fields: fields(m.fields),
      ...(m.result ? { result: use(m.result) } : {}),
      ...(m.messageKind !== "event" && handler !== undefined ? { handledBy: handler } : {}),
      ...durableOf(m.name.text),
    };
  });

  model.services = topology.services.map((facts): ServiceModel => {
    const s = facts.settings;
    if (s.mode === undefined) throw new Incomplete(`invalid mode in '${facts.decl.name.text}'`);
    return {
      name: facts.decl.name.text,
      ...doc(facts.decl),
      mode: s.mode,
      replicas: s.replicas,
      ...(s.mode === "leader" ? { leaseMs: s.leaseMs ?? DEFAULT_LEASE_MS } : {}),
      ...(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}),
      ...(s.image !== undefined ? { image: s.image } : {}),
      ...(s.port !== undefined ? { port: s.port } : {}),
      ...(s.handler !== undefined ? { handler: s.handler } : {}),
      env: { ...s.env },
      ...(s.resources !== undefined ? { resources: { ...s.resources } } : {}),
      handles: facts.handles.map((h) => ({ ...h })),
      subscriptions: facts.subscriptions.map((x) => ({ ...x })),
      emits: [...facts.emits],
      sends: [...facts.sends],
      runs: [...facts.runs],
      schedules: facts.schedules.map((x) => ({ ...x })),
      usesRedis: facts.usesRedis,
    };
  });

  model.sagas = topology.sagas.map((facts): SagaModel => {
    if (facts.trigger === undefined || facts.runBy === undefined) {
      throw new Incomplete(`saga '${facts.decl.name.text}' is incomplete`);
    }
    return {
      name: facts.decl.name.text,
      ...doc(facts.decl),
      trigger: { ...facts.trigger },
      steps: facts.steps.map((x) => ({ ...x })),
      runBy: facts.runBy,
    };
  });
  return model;
}

/**
 * `{ doc }` when a node has a doc comment, else nothing: spread right after `name`, it keeps `doc`
 * absent rather than undefined (JSON-stable) and every serialised model in one key order.
 */
function doc(node: { doc?: { text: string } }): { doc?: string } {
  return node.doc === undefined ? {} : { doc: node.doc.text };
}
