/**
 * Lowering of typed service code to a {@link ServiceDefinition}: generated definers
 * (`defineOrder({...})`) call these helpers, so each generated line stays type-checked (the payload,
 * result and context types of a handler must match its message) while the host receives one
 * generic shape it can run for any service. Every lowered function validates what crosses the wire
 * with the message's schema.
 *
 * The helpers take the user's object and a key rather than a function, so handlers written as
 * methods keep their `this`.
 */
import type {
  Awaitable,
  EventHandlerDefinition,
  EventSpec,
  HostContext,
  IrreversibleSagaStep,
  JobDefinition,
  RequestHandlerDefinition,
  RequestSpec,
  SagaDefinition,
  SagaInfo,
  SagaStep,
  SagaStepDefinition,
} from "./api.js";
import { parseMessage } from "./messaging.js";

/**
 * Lowers the handler `handlers[key]` of a command or query. The handler's context type is the
 * generated one (`OrderContext`), which the host builds from the definition's `emits` and `sends`:
 * that is what makes handing it a {@link HostContext} sound, hence the `never` in the signature
 * (any context type is accepted here; the generated definer fixed it).
 *
 * @throws TypeError at definition time when `handlers[key]` is not a function.
 */
export function requestHandler<Input, Result, Key extends string>(
  spec: RequestSpec<Input, Result>,
  handlers: Readonly<Record<NoInfer<Key>, (input: Input, ctx: never) => Awaitable<Result>>>,
  key: Key,
): RequestHandlerDefinition {
  need(handlers, key, "handlers", `answers ${spec.name}`);
  // One function per handler, not a closure per message.
  const checked = (result: Result) =>
    wireReply(parseMessage(spec.result, result === undefined ? null : result, spec.name, "result"));
  return {
    spec,
    // Not async: a synchronous handler's reply is then ready without a promise or a microtask.
    handle(payload: unknown, ctx: HostContext): Awaitable<unknown> {
      const input = parseMessage(spec.request, payload, spec.name, "request");
      const result = handlers[key](input, ctx as never);
      return isPromiseLike(result) ? Promise.resolve(result).then(checked) : checked(result);
    },
  };
}

/**
 * Lowers the event handler `events[key]`.
 *
 * @throws TypeError at definition time when `events[key]` is not a function.
 */
export function eventHandler<Payload, Key extends string>(
  spec: EventSpec<Payload>,
  events: Readonly<Record<NoInfer<Key>, (event: Payload, ctx: never) => Awaitable<void>>>,
  key: Key,
): EventHandlerDefinition {
  need(events, key, "events", `handles ${spec.name}`);
  return {
    spec,
    // Not async: the host then spends no promise on a handler that returns none.
    handle(payload: unknown, ctx: HostContext): Awaitable<void> {
      return events[key](parseMessage(spec.payload, payload, spec.name, "event"), ctx as never);
    },
  };
}

/**
 * Lowers the scheduled job `jobs[key]`.
 *
 * @throws TypeError at definition time when `jobs[key]` is not a function.
 */
export function scheduledJob<Key extends string>(
  jobs: Readonly<Record<NoInfer<Key>, (ctx: never) => Awaitable<void>>>,
  key: Key,
): JobDefinition {
  need(jobs, key, "jobs", "is a scheduled job");
  return {
    async run(ctx: HostContext): Promise<void> {
      await jobs[key](ctx as never);
    },
  };
}

/** Lowers a compensable saga step; the generic parameters tie the mapping to the step's commands. */
export function sagaStep<State, Input, Result, Compensation>(
  command: RequestSpec<Input, Result>,
  mapping: SagaStep<State, Input, Result, Compensation>,
  compensation: RequestSpec<Compensation, unknown>,
): SagaStepDefinition {
  need(mapping, "input", "saga step", `builds the input of ${command.name}`);
  need(mapping, "compensate", "saga step", `builds the input of ${compensation.name}`);
  return {
    command,
    compensation,
    input: (state) => mapping.input(state as State),
    fold: (state, result) => (mapping.fold ? mapping.fold(state as State, result as Result) : state),
    compensate: (state) => mapping.compensate(state as State),
  };
}

/** Lowers an `irreversible` saga step. */
export function irreversibleSagaStep<State, Input, Result>(
  command: RequestSpec<Input, Result>,
  mapping: IrreversibleSagaStep<State, Input, Result>,
): SagaStepDefinition {
  need(mapping, "input", "saga step", `builds the input of ${command.name}`);
  return {
    command,
    input: (state) => mapping.input(state as State),
    fold: (state, result) => (mapping.fold ? mapping.fold(state as State, result as Result) : state),
  };
}

/** Lowers a saga started by an event. */
export function eventSaga<Trigger, State>(
  name: string,
  trigger: EventSpec<Trigger>,
  mapping: { start(trigger: Trigger, saga: SagaInfo): State },
  steps: readonly SagaStepDefinition[],
): SagaDefinition {
  need(mapping, "start", `saga ${name}`, `builds the state from ${trigger.name}`);
  return {
    name,
    trigger,
    start: (payload, saga) =>
      mapping.start(parseMessage(trigger.payload, payload, trigger.name, "event"), saga),
    steps,
  };
}

/**
 * Lowers a saga started by a command its runner answers. The reply is sent once the saga has
 * started: `mapping.reply` builds the command's declared result from the first state (`null` when
 * the command declares none).
 */
export function commandSaga<Trigger, Result, State>(
  name: string,
  trigger: RequestSpec<Trigger, Result>,
  mapping: { start(trigger: Trigger, saga: SagaInfo): State; reply?(state: State, saga: SagaInfo): Result },
  steps: readonly SagaStepDefinition[],
): SagaDefinition {
  need(mapping, "start", `saga ${name}`, `builds the state from ${trigger.name}`);
  return {
    name,
    trigger,
    start: (payload, saga) =>
      mapping.start(parseMessage(trigger.request, payload, trigger.name, "request"), saga),
    reply: (state, saga) => {
      const result = mapping.reply ? mapping.reply(state as State, saga) : null;
      return wireReply(
        parseMessage(trigger.result, result === undefined ? null : result, trigger.name, "result"),
      );
    },
    steps,
  };
}

/** A reply cannot carry `undefined`: a command without a result (or an absent `T?`) replies `null`. */
/** Whether a handler's return value is a promise (or any thenable) rather than the value itself. */
export function isPromiseLike<T>(value: Awaitable<T> | unknown): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === "function";
}

function wireReply(value: unknown): unknown {
  return value === undefined ? null : value;
}

/** Fails at definition time, with the place to fix, instead of at the first message. */
function need(owner: object, key: string, where: string, what: string): void {
  if (typeof (owner as Record<string, unknown>)[key] !== "function") {
    throw new TypeError(`${where}.${key} must be a function (it ${what})`);
  }
}
