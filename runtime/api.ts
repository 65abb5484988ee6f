/**
 * The types between generated code and the runtime. `catgac build` emits message descriptors, a
 * typed client and per-service definers against these types; the runtime (NATS or in-memory
 * transport, service host, saga executor) implements or consumes them. Everything here is a type:
 * generated code can depend on it without pulling in any transport.
 *
 * Wire format (JSON): a `timestamp` is an ISO-8601 string on the wire and a `Date` in TypeScript; an
 * optional field (`T?`) is absent (or `null`, accepted from other producers) on the wire and
 * `undefined` in TypeScript; an optional result (`-> T?`) is `null`, because a reply cannot carry
 * `undefined`; a command without a result replies `null`.
 */

/**
 * A value or a promise of it: handlers may answer synchronously or asynchronously.
 */
export type Awaitable<T> = T | Promise<T>;

/** One problem a schema found: where (the keys leading into the payload; empty for the root) and what. */
export interface SchemaIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/**
 * The part of a schema the runtime uses: parse an unknown value into a typed one or list the
 * problems. Structural on purpose: any zod 4 schema fits (`z.ZodType<T>`), so the runtime and the
 * generated code need not share one copy of zod.
 */
export interface Schema<T> {
  safeParse(
    value: unknown,
  ): { success: true; data: T } | { success: false; error: { issues: readonly SchemaIssue[] } };
}

/**
 * A command or query as generated code describes it: where it goes, how its payload and reply are
 * validated, and the defaults the topology declares.
 *
 * @typeParam Input The request payload in TypeScript (timestamps as `Date`).
 * @typeParam Result The reply in TypeScript: `null` for `-> T?` when there is nothing, `void` for a
 *   command without a result.
 */
export interface RequestSpec<Input = unknown, Result = unknown> {
  /** The declared name: `CreateOrder`. */
  readonly name: string;
  readonly kind: "command" | "query";
  /** The NATS subject: `shop.cmd.CreateOrder`. */
  readonly subject: string;
  /** Names the wire shape (`CreateOrder@3f0c…`, as in wiring.json): differs when the shape differs. */
  readonly schemaId: string;
  /** Declared `idempotent`: the transport may retry it within the deadline. */
  readonly idempotent: boolean;
  /** The default deadline in milliseconds: the handling service's `timeout`, or 5000. */
  readonly timeoutMs: number;
  /** Parses a request payload: accepts the TypeScript value and its JSON form alike. */
  readonly request: Schema<Input>;
  /** Parses a reply: accepts the TypeScript value and its JSON form alike. */
  readonly result: Schema<Result>;
}

/**
 * An event as generated code describes it.
 *
 * @typeParam Payload The event in TypeScript (timestamps as `Date`).
 */
export interface EventSpec<Payload = unknown> {
  /** The declared name: `OrderCreated`. */
  readonly name: string;
  readonly kind: "event";
  /** The NATS subject: `shop.event.OrderCreated`. */
  readonly subject: string;
  /** Names the wire shape, as in wiring.json. */
  readonly schemaId: string;
  /**
   * Declared `durable`: published to JetStream and acknowledged by the stream before the publish
   * resolves (the stream's name, as in wiring.json). Absent for core-NATS events.
   */
  readonly durable?: { readonly stream: string };
  /** Parses an event: accepts the TypeScript value and its JSON form alike. */
  readonly payload: Schema<Payload>;
}

/** Any message descriptor. */
export type MessageSpec = RequestSpec | EventSpec;

/** Per-call options of a request. */
export interface CallOptions {
  /**
   * How long to wait for the reply, in milliseconds; then the call rejects with `TimeoutError`.
   * @default the message's declared timeout ({@link RequestSpec.timeoutMs})
   */
  timeoutMs?: number;
  /** Aborts the call: it rejects with the signal's reason and the reply, if any, is ignored. */
  signal?: AbortSignal;
  /**
   * Ties the request to the work that caused it, across services and logs.
   * @default the request's own message id: it starts a chain (inside a handler: the handled
   *   message's correlation id)
   */
  correlationId?: string;
  /**
   * The id of this request. Retries of an idempotent message reuse it, so a handler can tell a
   * retry from a new request; pass your own to make retries across process restarts recognisable.
   * @default a new unique id
   */
  messageId?: string;
  /**
   * W3C trace context (`00-<trace id>-<span id>-<flags>`) to continue: the message then carries a
   * child span's `traceparent`. Without it, and without the bus's `tracing` option, the message
   * carries no trace context (inside a handler, the handled message's trace is continued).
   */
  traceparent?: string;
}

/** Options of publishing an event. */
export interface PublishOptions {
  /**
   * @default the event's own message id: it starts a chain (inside a handler: the handled message's
   *   correlation id)
   */
  correlationId?: string;
  /** @default a new unique id */
  messageId?: string;
  /**
   * W3C trace context (`00-<trace id>-<span id>-<flags>`) to continue: the message then carries a
   * child span's `traceparent`. Without it, and without the bus's `tracing` option, the message
   * carries no trace context (inside a handler, the handled message's trace is continued).
   */
  traceparent?: string;
}

/** Options of an event subscription. */
export interface SubscribeOptions {
  /**
   * A queue group: the instances subscribing with the same queue share the events (each event goes
   * to one of them). Without it every subscriber receives every event.
   */
  queue?: string;
}

/** What came with a delivered event besides its payload. */
export interface EventInfo {
  readonly subject: string;
  readonly messageId: string;
  readonly correlationId: string;
}

/** Handles one delivered event. A rejection is logged by the transport; the event is not redelivered. */
export type EventHandler<Payload> = (event: Payload, info: EventInfo) => Awaitable<void>;

/** A live event subscription. */
export interface Subscription {
  /** The subject subscribed to. */
  readonly subject: string;
  /** Stops the deliveries; handlers already running finish. */
  unsubscribe(): Promise<void>;
}

/**
 * The transport the generated client and the service host talk through. The runtime provides it
 * (`connectNats(...)` on NATS, `memoryBus()` in one process); generated code only calls it.
 *
 * Payloads cross it as JSON values: the caller passes validated TypeScript values (which
 * `JSON.stringify` turns into the wire form: `Date` → ISO string) and receives decoded JSON, which
 * generated code validates with the message's schema.
 */
export interface MessageBus {
  /**
   * Sends a request to `spec.subject` and resolves with the decoded JSON reply (`null` for a command
   * without a result). Rejects with `TimeoutError`, `NoRespondersError` (no handler is subscribed;
   * immediately), `PayloadTooLargeError`, or the remote handler's error rethrown as the same typed
   * error (`DomainError`, `InvalidMessageError`, …).
   */
  request(spec: RequestSpec, payload: unknown, options: CallOptions): Promise<unknown>;
  /** Publishes an event on `spec.subject`. */
  publish(spec: EventSpec, event: unknown, options?: PublishOptions): Promise<void>;
  /** Subscribes to `spec.subject`; `handler` receives the decoded JSON payload. */
  subscribe(
    spec: EventSpec,
    handler: (payload: unknown, info: EventInfo) => Awaitable<void>,
    options?: SubscribeOptions,
  ): Subscription;
  /** Drains and closes the connection. */
  close(): Promise<void>;
}

/** Options of a generated client (`connectShop(bus, options)`). */
export interface ClientOptions {
  /**
   * A deadline for every call of this client, in milliseconds; a call's own `timeoutMs` wins.
   * @default each message's declared timeout
   */
  timeoutMs?: number;
}

/** Structured logging for handlers: one line per call, fields as JSON. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** What every handler, event handler and job receives besides its payload. */
export interface HandlerContext {
  /** The service running the handler. */
  readonly service: string;
  /** This instance's id (`CATGA_INSTANCE_ID`). */
  readonly instance: string;
  /**
   * The id of the message being handled (for a job: of this tick). A retried idempotent request
   * keeps its id, so handlers can deduplicate on it.
   */
  readonly messageId: string;
  /**
   * Carried over from the message (its own message id when it started the chain); requests sent
   * and events emitted from here inherit it.
   */
  readonly correlationId: string;
  /**
   * When the work must be done, in epoch milliseconds: the caller's deadline for a request, the
   * service's `timeout` (or 5 s) from an event's arrival or a job's start, however late the handler
   * reads it (an event's is computed on first read: most handlers never read it).
   */
  readonly deadline: number;
  /**
   * Fires at the deadline and when the instance shuts down; in leader mode also when leadership is
   * lost. Pass it to I/O so abandoned work stops.
   */
  readonly signal: AbortSignal;
  readonly log: Logger;
}

/** What only a leader-mode service's context has: the term it holds leadership in. */
export interface Leadership {
  /**
   * The fencing token of the current leadership term: strictly greater than every earlier term's.
   * A `bigint` because it is a 64-bit Redis counter; pass it to fenced writes, which reject a stale
   * token, so a deposed leader cannot overwrite its successor's work.
   */
  readonly fencingToken: bigint;
  /** Whether this instance still holds the lease: read it again after every await. */
  readonly isLeader: boolean;
}

/**
 * The context a p2p service's handlers receive: the base context plus `emit` (only the events the
 * service declares in `emits`) and `send` (only the commands and queries in `sends`).
 *
 * @typeParam Emit One method per declared event, generated per service.
 * @typeParam Send One method per declared command or query, generated per service.
 */
export interface ServiceContext<Emit, Send> extends HandlerContext {
  readonly emit: Emit;
  readonly send: Send;
}

/** The context a leader-mode service's handlers, jobs and event handlers receive. */
export interface LeaderServiceContext<Emit, Send> extends ServiceContext<Emit, Send>, Leadership {}

/** Publishes one declared event; what a generated `ctx.emit.<event>` is. */
export type Emitter<Payload> = (event: Payload) => Promise<void>;

/** Sends one declared command or query; what a generated `ctx.send.<message>` is. */
export type Sender<Input, Result> = (input: Input, options?: CallOptions) => Promise<Result>;

/**
 * The context as the host builds it for any service: `emit` and `send` hold one function per entry
 * of {@link ServiceDefinition.emits} and {@link ServiceDefinition.sends}, under the same keys; the
 * leadership fields are present in leader mode only. Generated definers narrow it to the service's
 * own context type.
 */
export interface HostContext
  extends ServiceContext<
      Readonly<Record<string, Emitter<unknown>>>,
      Readonly<Record<string, Sender<unknown, unknown>>>
    >,
    Partial<Leadership> {}

/** A lowered command or query handler: takes the decoded JSON payload, returns the JSON reply. */
export interface RequestHandlerDefinition {
  readonly spec: RequestSpec;
  /**
   * Validates the payload (throws `InvalidMessageError`), runs the user's handler, validates its
   * result and returns the reply value (`null` when there is nothing): at once for a synchronous
   * handler, as a promise for an asynchronous one.
   */
  handle(payload: unknown, ctx: HostContext): Awaitable<unknown>;
}

/** A lowered event handler. */
export interface EventHandlerDefinition {
  readonly spec: EventSpec;
  /**
   * Validates the payload (throws `InvalidMessageError`) and runs the user's handler; returns what
   * the handler returns, so a promise only when the handler is asynchronous.
   */
  handle(payload: unknown, ctx: HostContext): Awaitable<void>;
}

/** A lowered scheduled job; its interval is in the wiring. */
export interface JobDefinition {
  run(ctx: HostContext): Promise<void>;
}

/** What a saga's mapping functions learn about the saga instance. */
export interface SagaInfo {
  /** Unique per saga instance; also the prefix of the steps' idempotency keys. */
  readonly sagaId: string;
  /** The trigger's correlation id; every step's request carries it. */
  readonly correlationId: string;
}

/**
 * How one compensable saga step is mapped, typed from the saga declaration. State must survive
 * `JSON.stringify` and `JSON.parse` unchanged (it is persisted in Redis): keep timestamps as ISO
 * strings in it, not `Date`s.
 *
 * @typeParam State The saga's state.
 * @typeParam Input The step command's payload.
 * @typeParam Result The step command's result.
 * @typeParam Compensation The compensating command's payload.
 */
export interface SagaStep<State, Input, Result, Compensation> {
  /** The step command's payload, built from the state. */
  input(state: State): Input;
  /**
   * The state after the step succeeded, with its result folded in.
   * @default the state unchanged
   */
  fold?(state: State, result: Result): State;
  /** The compensating command's payload, built from the state, when a later step fails. */
  compensate(state: State): Compensation;
}

/** How one `irreversible` saga step is mapped: like {@link SagaStep}, with nothing to undo it. */
export interface IrreversibleSagaStep<State, Input, Result> {
  input(state: State): Input;
  /** @default the state unchanged */
  fold?(state: State, result: Result): State;
}

/** A lowered saga step. */
export interface SagaStepDefinition {
  readonly command: RequestSpec;
  /** Absent for an irreversible step. */
  readonly compensation?: RequestSpec;
  input(state: unknown): unknown;
  fold(state: unknown, result: unknown): unknown;
  compensate?(state: unknown): unknown;
}

/**
 * A lowered saga: how its state starts from the trigger, and its steps in order. The runtime
 * persists the state after every step, runs compensations in reverse when a step fails, and lets a
 * new leader resume unfinished instances.
 */
export interface SagaDefinition {
  readonly name: string;
  /** An event, or a command this service answers by starting the saga. */
  readonly trigger: EventSpec | RequestSpec;
  /** The first state, from the validated trigger payload. */
  start(trigger: unknown, saga: SagaInfo): unknown;
  /**
   * Command triggers only: the reply, sent as soon as the saga has started (its first state is
   * persisted), not when it ends. `null` when the command declares no result.
   */
  reply?(state: unknown, saga: SagaInfo): unknown;
  readonly steps: readonly SagaStepDefinition[];
}

/**
 * What a generated definer (`defineOrder({...})`) returns and the service host runs: everything a
 * service does, keyed by the names in the topology. Export it as the default of the handler module.
 */
export interface ServiceDefinition {
  readonly topology: string;
  readonly service: string;
  readonly mode: "p2p" | "leader";
  /** The events `ctx.emit` offers, keyed by its member names (`orderCreated`). */
  readonly emits: Readonly<Record<string, EventSpec>>;
  /** The commands and queries `ctx.send` offers, keyed by its member names (`chargePayment`). */
  readonly sends: Readonly<Record<string, RequestSpec>>;
  /** Handlers by command or query name; commands that start a saga are answered by the saga. */
  readonly handlers: Readonly<Record<string, RequestHandlerDefinition>>;
  /** Event handlers by event name (`on`). */
  readonly events: Readonly<Record<string, EventHandlerDefinition>>;
  /** Scheduled jobs by job name (`every`); leader mode only. */
  readonly jobs: Readonly<Record<string, JobDefinition>>;
  /** Sagas this service runs, by saga name; leader mode only. */
  readonly sagas: Readonly<Record<string, SagaDefinition>>;
}
