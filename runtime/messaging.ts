/**
 * Validated messaging over a {@link MessageBus}: what generated clients and the service host do
 * around every request, reply and event. Payloads are checked against their message's schema on
 * both sides, so a malformed message fails with an `InvalidMessageError` naming every bad field
 * instead of surfacing as `undefined` deep inside a handler.
 */
import type {
  CallOptions,
  ClientOptions,
  EventHandler,
  EventSpec,
  MessageBus,
  PublishOptions,
  RequestSpec,
  Schema,
  SubscribeOptions,
  Subscription,
} from "./api.js";
import { InvalidMessageError } from "./errors.js";

/**
 * The method of a runtime bus that sends a request and checks its reply against `spec.result` in
 * one step (one promise and one microtask per request less than a check chained after
 * `request`). Only the runtime's own bus has it: {@link sendRequest} checks the reply itself on
 * any other {@link MessageBus}.
 */
export const REQUEST_CHECKED: unique symbol = Symbol("catga.requestChecked");

/** A bus that checks replies itself (see {@link REQUEST_CHECKED}). */
export interface CheckingBus {
  [REQUEST_CHECKED](spec: RequestSpec, payload: unknown, options: CallOptions): Promise<unknown>;
}

/**
 * Parses a payload with a message's schema.
 *
 * @throws InvalidMessageError with every issue the schema found.
 */
export function parseMessage<T>(
  schema: Schema<T>,
  value: unknown,
  messageName: string,
  part: InvalidMessageError["part"],
): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw InvalidMessageError.fromSchemaIssues(messageName, part, parsed.error.issues, { cause: parsed.error });
}

/**
 * Declares a command or query descriptor with its payload and result types: generated code's way
 * of writing `messages.CreateOrder`, so both types are fixed where the descriptor is written.
 */
export function requestSpec<Input, Result>(spec: RequestSpec<Input, Result>): RequestSpec<Input, Result> {
  return Object.freeze(spec);
}

/** Declares an event descriptor with its payload type. */
export function eventSpec<Payload>(spec: EventSpec<Payload>): EventSpec<Payload> {
  return Object.freeze(spec);
}

/**
 * Sends a request: validates the input (before anything is sent), waits for the reply and validates
 * it.
 *
 * @throws InvalidMessageError when the input or the reply fails its schema; whatever the bus throws
 *   (`TimeoutError`, `NoRespondersError`, a remote `DomainError`, …).
 */
export function sendRequest<Input, Result>(
  bus: MessageBus,
  spec: RequestSpec<Input, Result>,
  input: Input,
  options: CallOptions = {},
): Promise<Result> {
  // Chained rather than async/await: one promise less per request on the hottest path of a client.
  let reply: Promise<unknown>;
  try {
    const payload = parseMessage(spec.request, input, spec.name, "request");
    const checking = (bus as Partial<CheckingBus>)[REQUEST_CHECKED];
    // The runtime's bus checks the reply in the step that decodes it, and falls back on the
    // message's timeout itself: the options go as they are, without a copy per request.
    if (checking !== undefined) return checking.call(bus, spec, payload, options) as Promise<Result>;
    reply = bus.request(spec, payload, { ...options, timeoutMs: options.timeoutMs ?? spec.timeoutMs });
  } catch (error) {
    return Promise.reject(error);
  }
  return reply.then((value) => parseMessage(spec.result, value, spec.name, "result"));
}

/**
 * Publishes an event after validating it.
 *
 * @throws InvalidMessageError when the event fails its schema; nothing is published then.
 */
export function publishEvent<Payload>(
  bus: MessageBus,
  spec: EventSpec<Payload>,
  event: Payload,
  options?: PublishOptions,
): Promise<void> {
  try {
    return bus.publish(spec, parseMessage(spec.payload, event, spec.name, "event"), options);
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Subscribes to an event with a typed handler. A delivered payload that fails the schema makes the
 * handler reject with `InvalidMessageError` (the bus logs it) without calling `handler`.
 */
export function subscribeEvent<Payload>(
  bus: MessageBus,
  spec: EventSpec<Payload>,
  handler: EventHandler<Payload>,
  options?: SubscribeOptions,
): Subscription {
  return bus.subscribe(
    spec,
    (payload, info) => handler(parseMessage(spec.payload, payload, spec.name, "event"), info),
    options,
  );
}

/**
 * The method factory of generated clients: `call(messages.CreateOrder)` is `createOrder(input,
 * options?)`, with the client's options as defaults under each call's own.
 */
export function requester(
  bus: MessageBus,
  defaults: ClientOptions = {},
): <Input, Result>(
  spec: RequestSpec<Input, Result>,
) => (input: Input, options?: CallOptions) => Promise<Result> {
  // A call without options of its own (most) takes the defaults as they are: nothing downstream
  // changes an options object, so a copy per call would only be garbage.
  return (spec) => (input, options) =>
    sendRequest(bus, spec, input, options === undefined ? defaults : { ...defaults, ...options });
}

/** The subscription factory of generated clients: `listen(messages.OrderCreated)` is `on.orderCreated(handler)`. */
export function subscriber(
  bus: MessageBus,
): <Payload>(
  spec: EventSpec<Payload>,
) => (handler: EventHandler<Payload>, options?: SubscribeOptions) => Subscription {
  return (spec) => (handler, options) => subscribeEvent(bus, spec, handler, options);
}
