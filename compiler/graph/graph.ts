/**
 * The topology as a graph: services (and sagas) as nodes, messages as edges. Built from the checked
 * model only, so every drawing (Mermaid, DOT, SVG) shows the same nodes and edges, and none of them
 * re-derives who sends what to whom.
 *
 * Pure and deterministic: nodes and edges are sorted, no clock, no environment.
 */
import type { MessageModel, ServiceModel, TopologyModel } from "../model.js";

/**
 * What a node stands for. `outside` stands for publishers outside the topology (an event no service
 * emits); `nobody` collects events that no service or saga consumes.
 */
export type GraphNodeKind = "service" | "saga" | "outside" | "nobody";

/** One box of the drawing. */
export interface GraphNode {
  /** Stable id, unique in the graph: `svc-<service>`, `saga-<saga>`, `outside`, `nobody`. */
  id: string;
  kind: GraphNodeKind;
  /** The service or saga name; a fixed word for `outside` and `nobody`. */
  name: string;
  /** Services only: the replica mode (leaders are drawn in another colour). */
  mode?: "p2p" | "leader";
  /** The lines under the name: mode and replicas, lease, queue groups, schedules, saga steps. */
  lines: string[];
  /**
   * Services only: the commands and queries only callers outside the topology send (the typed
   * client), sorted. They are written in the box (`← CreateOrder, GetOrder`) rather than drawn
   * from a shared "clients" box: such a box has an edge into every layer of the drawing, and those
   * long edges made ELK's layout of a 50-service topology take minutes and cross everything.
   */
  entries?: string[];
}

/**
 * What an edge stands for.
 * - `request`: a command or query, from the service that sends it to its handler.
 * - `event`: an event, from its emitter to a consuming service or the saga it starts.
 * - `step`: a saga step (or a compensation handled elsewhere), from the saga to the command's handler.
 * - `runs`: a leader-mode service runs a saga.
 */
export type GraphEdgeKind = "request" | "event" | "step" | "runs";

/** One arrow of the drawing. */
export interface GraphEdge {
  /** Stable id, unique in the graph. */
  id: string;
  kind: GraphEdgeKind;
  from: string;
  to: string;
  /** The message the edge carries; absent for `runs`. */
  message?: string;
  /**
   * Step edges only: the compensation of the step when the same service handles it (drawn on the
   * one edge as `↺ Name`; a compensation handled elsewhere gets an edge of its own).
   */
  compensation?: string;
  /**
   * Events only: `group` reaches one instance of the consuming service, `broadcast` every
   * instance. Absent for other kinds.
   */
  delivery?: "group" | "broadcast";
  /** Events only: a `durable event` (JetStream, at least once). */
  durable?: boolean;
  /** The text drawn on the edge. */
  label: string;
}

/** One row of the legend: how an edge kind is drawn and what it means. */
export interface LegendEntry {
  /** The style key the emitters map to a line style: see {@link edgeStyle}. */
  style: EdgeStyle;
  text: string;
}

/** The distinct line styles of the drawing. */
export type EdgeStyle =
  | "request"
  | "event-group"
  | "event-broadcast"
  | "event-durable"
  | "event-durable-broadcast"
  | "step"
  | "runs";

/** The whole drawing, before layout. */
export interface TopologyGraph {
  /** The topology name. */
  name: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
  legend: LegendEntry[];
  /** Legend lines about what is written in boxes rather than drawn as edges. */
  notes: string[];
  /** Number of services; the CLI warns above {@link DENSE_SERVICES}. */
  services: number;
}

/**
 * Above this many services the drawing stays correct but gets dense: the CLI prints a warning and
 * the SVG draws its edges without labels (each edge keeps its message in a hover title and in
 * `data-message`), since dozens of labels between the layers are what make a large drawing
 * unreadable. The 50-service test (test/unit/graph.test.ts) stays below it.
 */
export const DENSE_SERVICES = 60;

/** The line style of an edge: events split by durability (colour) and delivery (width). */
export function edgeStyle(edge: Pick<GraphEdge, "kind" | "delivery" | "durable">): EdgeStyle {
  if (edge.kind === "event") {
    const broadcast = edge.delivery === "broadcast";
    if (edge.durable) return broadcast ? "event-durable-broadcast" : "event-durable";
    return broadcast ? "event-broadcast" : "event-group";
  }
  return edge.kind;
}

const LEGEND: LegendEntry[] = [
  { style: "request", text: "command / query: sender → handler (one instance answers)" },
  { style: "event-group", text: "event: one instance per consuming service" },
  { style: "event-broadcast", text: "event, broadcast: every instance" },
  { style: "event-durable", text: "durable event (JetStream, at least once): one instance per service" },
  { style: "event-durable-broadcast", text: "durable event, broadcast: every instance" },
  { style: "step", text: "saga step (↺ its compensation)" },
  { style: "runs", text: "the service's leader runs the saga" },
];

const NOTES = ["← A, B in a service box: commands / queries only callers outside the topology send"];

/** Builds the graph of a checked topology. */
export function buildGraph(model: TopologyModel): TopologyGraph {
  const messages = new Map(model.messages.map((m) => [m.name, m]));
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const edgeIds = new Set<string>();
  const addEdge = (edge: Omit<GraphEdge, "id">): void => {
    const id = `${edge.kind}-${edge.message ?? ""}-${edge.from}-${edge.to}`;
    // A service may declare the same send twice through a saga and a `sends`; one arrow is enough.
    if (edgeIds.has(id)) return;
    edgeIds.add(id);
    edges.push({ id, ...edge });
  };

  for (const service of model.services) {
    nodes.push({
      id: serviceId(service.name),
      kind: "service",
      name: service.name,
      mode: service.mode,
      lines: serviceLines(service),
    });
  }
  for (const saga of model.sagas) {
    const lines = saga.steps.map(
      (step, i) =>
        `${i + 1}. ${step.command}${step.compensate ? ` ↺ ${step.compensate}` : " (irreversible)"}`,
    );
    nodes.push({ id: sagaId(saga.name), kind: "saga", name: saga.name, lines });
  }

  // Who sends each command/query: services that declare it, sagas whose steps use it.
  const senders = new Map<string, Set<string>>();
  const addSender = (message: string, node: string): void => {
    const set = senders.get(message) ?? new Set<string>();
    set.add(node);
    senders.set(message, set);
  };
  for (const service of model.services) for (const m of service.sends) addSender(m, serviceId(service.name));
  const stepCommands = new Set<string>();
  for (const saga of model.sagas) {
    for (const step of saga.steps) {
      stepCommands.add(step.command);
      if (step.compensate) stepCommands.add(step.compensate);
    }
  }

  let needsOutside = false;
  let needsNobody = false;
  const entries = new Map<string, string[]>();
  for (const message of model.messages) {
    if (message.kind === "event") {
      const emitters = model.services
        .filter((s) => s.emits.includes(message.name))
        .map((s) => serviceId(s.name));
      if (emitters.length === 0) needsOutside = true;
      const targets = eventTargets(model, message);
      if (targets.length === 0) needsNobody = true;
      for (const from of emitters.length > 0 ? emitters : ["outside"]) {
        for (const target of targets.length > 0 ? targets : [{ to: "nobody", delivery: "group" as const }]) {
          addEdge({
            kind: "event",
            from,
            to: target.to,
            message: message.name,
            delivery: target.delivery,
            durable: message.durable !== undefined,
            label: eventLabel(message, target.delivery),
          });
        }
      }
      continue;
    }
    const handler = message.handledBy;
    if (handler === undefined) continue;
    const from = [...(senders.get(message.name) ?? [])];
    // A command only saga steps use is sent by the saga (drawn as a step edge), not from outside.
    if (from.length === 0 && !stepCommands.has(message.name)) {
      entries.set(handler, [...(entries.get(handler) ?? []), message.name].sort());
    }
    for (const sender of from) {
      addEdge({
        kind: "request",
        from: sender,
        to: serviceId(handler),
        message: message.name,
        label: message.name,
      });
    }
  }

  for (const saga of model.sagas) {
    addEdge({ kind: "runs", from: serviceId(saga.runBy), to: sagaId(saga.name), label: "runs" });
    saga.steps.forEach((step, i) => {
      const handler = messages.get(step.command)?.handledBy;
      const undo = step.compensate ? messages.get(step.compensate)?.handledBy : undefined;
      if (handler !== undefined) {
        const together = step.compensate !== undefined && undo === handler;
        addEdge({
          kind: "step",
          from: sagaId(saga.name),
          to: serviceId(handler),
          message: step.command,
          ...(together ? { compensation: step.compensate } : {}),
          label: `${i + 1}. ${step.command}${together ? ` ↺ ${step.compensate}` : ""}`,
        });
      }
      if (step.compensate !== undefined && undo !== undefined && undo !== handler) {
        addEdge({
          kind: "step",
          from: sagaId(saga.name),
          to: serviceId(undo),
          message: step.compensate,
          label: `${i + 1}. ↺ ${step.compensate}`,
        });
      }
    });
  }

  for (const node of nodes) {
    const list = node.kind === "service" ? entries.get(node.name) : undefined;
    if (list === undefined) continue;
    node.entries = list;
    node.lines.splice(1, 0, ...entryLines(list));
  }
  if (needsOutside) {
    nodes.push({
      id: "outside",
      kind: "outside",
      name: "outside",
      lines: ["publishers outside the topology"],
    });
  }
  if (needsNobody)
    nodes.push({ id: "nobody", kind: "nobody", name: "nobody", lines: ["events no one consumes"] });

  nodes.sort((a, b) => compare(nodeRank(a), nodeRank(b)) || compare(a.id, b.id));
  edges.sort((a, b) => compare(a.from, b.from) || compare(a.to, b.to) || compare(a.id, b.id));
  return { name: model.name, nodes, edges, legend: LEGEND, notes: NOTES, services: model.services.length };
}

/** The node id of a service: also its `id` in the SVG. */
export function serviceId(name: string): string {
  return `svc-${name}`;
}

/** The node id of a saga. */
export function sagaId(name: string): string {
  return `saga-${name}`;
}

function serviceLines(service: ServiceModel): string[] {
  const lines = [
    service.mode === "leader"
      ? `leader × ${service.replicas} · lease ${duration(service.leaseMs ?? 0)}`
      : `p2p × ${service.replicas}`,
  ];
  // The default queue (the service name) says nothing; a shared or renamed one does.
  const queues = [...new Set(service.handles.map((h) => h.queue).filter((q) => q !== service.name))].sort();
  if (service.mode === "p2p" && queues.length > 0) lines.push(`queue ${queues.join(", ")}`);
  for (const job of service.schedules) lines.push(`every ${duration(job.intervalMs)} ${job.job}`);
  return lines;
}

/** `← A, B, C` lines of at most three names each, so one busy handler does not widen its box. */
function entryLines(names: string[]): string[] {
  const lines: string[] = [];
  for (let i = 0; i < names.length; i += 3)
    lines.push(`${i === 0 ? "←" : " "} ${names.slice(i, i + 3).join(", ")}`);
  return lines;
}

function eventTargets(
  model: TopologyModel,
  message: MessageModel,
): { to: string; delivery: "group" | "broadcast" }[] {
  const targets: { to: string; delivery: "group" | "broadcast" }[] = [];
  for (const service of model.services) {
    for (const sub of service.subscriptions) {
      // A leader-mode service has one receiving instance: broadcast makes no difference there.
      const delivery = service.mode === "leader" ? "group" : sub.delivery;
      if (sub.event === message.name) targets.push({ to: serviceId(service.name), delivery });
    }
  }
  for (const saga of model.sagas) {
    if (saga.trigger.kind === "event" && saga.trigger.name === message.name) {
      targets.push({ to: sagaId(saga.name), delivery: "group" });
    }
  }
  return targets;
}

function eventLabel(message: MessageModel, delivery: "group" | "broadcast"): string {
  const tags = [message.durable ? "durable" : "", delivery === "broadcast" ? "broadcast" : ""].filter(
    Boolean,
  );
  return tags.length > 0 ? `${message.name} · ${tags.join(", ")}` : message.name;
}

/** `10s`, `5m`, `250ms`: the largest unit that divides the value, as the language writes it. */
function duration(ms: number): string {
  if (ms > 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms > 0 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function nodeRank(node: GraphNode): number {
  return { outside: 0, service: 1, saga: 2, nobody: 3 }[node.kind];
}

function compare(a: string | number, b: string | number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
