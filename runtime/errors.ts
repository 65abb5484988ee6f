/**
 * The runtime's errors: named classes, so callers can `instanceof` them and logs show what
 * happened. An error thrown by a remote handler travels back in the reply ({@link toWireError}) and
 * is rethrown at the caller as the same class ({@link fromWireError}), so a `DomainError` thrown in
 * the `order` service is a `DomainError` in the web app that called `createOrder`.
 */
import type { SchemaIssue } from "./api.js";

/** The `code` of each built-in error; a {@link DomainError} carries its handler's own code. */
export const ERROR_CODES = {
  internal: "INTERNAL",
  timeout: "TIMEOUT",
  noResponders: "NO_RESPONDERS",
  invalidMessage: "INVALID_MESSAGE",
  payloadTooLarge: "PAYLOAD_TOO_LARGE",
  notLeader: "NOT_LEADER",
  streamConfigConflict: "STREAM_CONFIG_CONFLICT",
  streamPublish: "STREAM_PUBLISH",
  tls: "TLS",
  wireVersion: "WIRE_VERSION",
} as const;

/** The base of every error the runtime throws or relays. */
export class CatgaError extends Error {
  override name = "CatgaError";
  /** A stable machine-readable code: one of {@link ERROR_CODES}, or a domain error's own code. */
  readonly code: string;
  constructor(message: string, options: { code: string; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
  }
}

/**
 * An error a handler reports on purpose (`throw new DomainError("OUT_OF_STOCK", "sku 42 is sold
 * out")`): it travels back to the caller with its code, message and details, and is never retried.
 * Any other exception a handler throws reaches the caller as a {@link CatgaError} with code
 * `INTERNAL`.
 */
export class DomainError extends CatgaError {
  override name = "DomainError";
  /** JSON details for the caller, if the handler gave any. */
  readonly details: unknown;
  constructor(code: string, message: string, options: { details?: unknown; cause?: unknown } = {}) {
    super(message, { code, cause: options.cause });
    this.details = options.details;
  }
}

/** No reply arrived within the deadline. The handler may still have run: retry only idempotent messages. */
export class TimeoutError extends CatgaError {
  override name = "TimeoutError";
  constructor(
    readonly subject: string,
    readonly timeoutMs: number,
    options: { cause?: unknown } = {},
  ) {
    super(`no reply on '${subject}' within ${timeoutMs} ms`, {
      code: ERROR_CODES.timeout,
      cause: options.cause,
    });
  }
}

/**
 * Nobody handles the subject right now (no instance of the handling service is subscribed). Thrown
 * at once instead of waiting for the deadline.
 */
export class NoRespondersError extends CatgaError {
  override name = "NoRespondersError";
  constructor(
    readonly subject: string,
    options: { cause?: unknown } = {},
  ) {
    super(`no responders on '${subject}': is the handling service running?`, {
      code: ERROR_CODES.noResponders,
      cause: options.cause,
    });
  }
}

/** One problem of an invalid message: a dotted path into the payload (`""` for the root) and what is wrong. */
export interface MessageIssue {
  path: string;
  message: string;
}

/**
 * A payload failed its message's schema: a request before it was sent or when it arrived, a reply,
 * or an event. The instance that found it keeps serving.
 */
export class InvalidMessageError extends CatgaError {
  override name = "InvalidMessageError";
  constructor(
    /** The declared message name: `CreateOrder`. */
    readonly messageName: string,
    /** Which payload failed: the request (or event) itself, or the reply to it. */
    readonly part: "request" | "result" | "event",
    /** Every problem, with its path. */
    readonly issues: readonly MessageIssue[],
    options: { cause?: unknown } = {},
  ) {
    super(
      `invalid ${part} of ${messageName}: ${issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; ")}`,
      { code: ERROR_CODES.invalidMessage, cause: options.cause },
    );
  }

  /** From the issues of a schema (zod's `error.issues`): paths joined with dots. */
  static fromSchemaIssues(
    messageName: string,
    part: InvalidMessageError["part"],
    issues: readonly SchemaIssue[],
    options: { cause?: unknown } = {},
  ): InvalidMessageError {
    const flat = issues.map((i) => ({ path: i.path.map((k) => String(k)).join("."), message: i.message }));
    return new InvalidMessageError(messageName, part, flat, options);
  }
}

/**
 * A message's envelope or `Catga` header is of a wire version this instance does not read: a
 * replica of a newer build sent it. Answered to the caller (a request) or logged and counted (an
 * event); the instance keeps serving.
 */
export class WireVersionError extends CatgaError {
  override name = "WireVersionError";
  /** The version this runtime writes by default (it reads versions 1 to 5 and plain messages). */
  readonly speaks = 5;
  constructor(
    /** The version the message was written in. */
    readonly got: number,
    /** The message it came as (`""` when not known). */
    readonly messageName: string,
    options: { cause?: unknown } = {},
  ) {
    super(
      `${messageName || "a message"} came in wire version ${got}; this instance speaks version 5 and reads versions 1 to 5: upgrade it to the sender's build`,
      { code: ERROR_CODES.wireVersion, cause: options.cause },
    );
  }
}

/** The encoded payload is larger than the NATS server's `max_payload`. */
export class PayloadTooLargeError extends CatgaError {
  override name = "PayloadTooLargeError";
  constructor(
    readonly subject: string,
    /** Encoded size in bytes. */
    readonly size: number,
    /** The server's limit in bytes. */
    readonly limit: number,
    options: { cause?: unknown } = {},
  ) {
    super(`payload on '${subject}' is ${size} bytes; the server accepts at most ${limit}`, {
      code: ERROR_CODES.payloadTooLarge,
      cause: options.cause,
    });
  }
}

/**
 * A leader-mode operation ran on an instance that is not (or no longer) the leader of its service:
 * a fenced write with a stale token, or work started after leadership was lost.
 */
export class NotLeaderError extends CatgaError {
  override name = "NotLeaderError";
  constructor(
    readonly service: string,
    options: { cause?: unknown } = {},
  ) {
    super(`this instance is not the leader of service '${service}'`, {
      code: ERROR_CODES.notLeader,
      cause: options.cause,
    });
  }
}

/**
 * A stream or durable consumer exists with a setting the server cannot change in place (storage,
 * retention, a subject that holds stored messages, a consumer's filter subject, deliver or ack
 * policy). The runtime never deletes and recreates it, because that would lose the stored messages
 * or the consumer's position: an operator decides.
 */
export class StreamConfigConflictError extends CatgaError {
  override name = "StreamConfigConflictError";
  constructor(
    /** `stream 'catga_shop_OrderCreated'` or `consumer 'billing' of stream 'catga_shop_OrderCreated'`. */
    readonly target: string,
    /** The setting that differs, as the server names it: `storage`, `filter_subject`, … */
    readonly field: string,
    readonly current: unknown,
    readonly wanted: unknown,
    options: { cause?: unknown } = {},
  ) {
    super(
      `${target} has ${field} ${JSON.stringify(current)} but the topology wants ${JSON.stringify(wanted)}, ` +
        "which the server cannot change in place; the runtime does not delete it (that would lose its messages " +
        "or position): migrate or delete it yourself (nats stream/consumer rm), or change the topology back",
      { code: ERROR_CODES.streamConfigConflict, cause: options.cause },
    );
  }
}

/**
 * A publish to a durable stream was not acknowledged: no stream takes the subject, or the stream did
 * not answer in time (no leader during an election, the cluster lost quorum). The message may or may
 * not be stored; publishing again with the same message id is safe (the stream deduplicates it).
 */
export class StreamPublishError extends CatgaError {
  override name = "StreamPublishError";
  constructor(
    readonly subject: string,
    readonly reason: string,
    options: { cause?: unknown } = {},
  ) {
    super(`publish to stream subject '${subject}' not acknowledged: ${reason}`, {
      code: ERROR_CODES.streamPublish,
      cause: options.cause,
    });
  }
}

/** Why a TLS connection failed, as {@link TlsError} classifies it. */
export type TlsFailure =
  /** The server's certificate is not signed by a CA the client trusts (no CA given, or another). */
  | "untrusted-certificate"
  /** The certificate does not list the name the client connected to. */
  | "hostname-mismatch"
  /** The certificate has expired or is not valid yet. */
  | "expired-certificate"
  /** The server answered in plain text: TLS is off at the server (or that port). */
  | "server-not-tls"
  /** The server wants a client certificate and the client has none (or one it does not trust). */
  | "client-certificate-rejected";

/**
 * A TLS connection to NATS or Redis failed verification. Retrying cannot help until the
 * certificates or the configuration change, so the runtime reports it at once instead of waiting
 * out a connect timeout. The message names the server, the cause and the fix; `cause` is the TLS
 * library's error.
 */
export class TlsError extends CatgaError {
  override name = "TlsError";
  constructor(
    /** The server (or servers) the client tried, e.g. `nats://nats-0:4222`. */
    readonly server: string,
    readonly failure: TlsFailure,
    /** What to change, e.g. `set CATGA_NATS_TLS_CA to the CA that signed the server's certificate`. */
    readonly fix: string,
    options: { cause?: unknown } = {},
  ) {
    const detail = (options.cause as { message?: unknown } | undefined)?.message;
    super(
      `TLS with ${server} failed: ${TLS_FAILURES[failure]}${typeof detail === "string" ? ` (${detail})` : ""}; ${fix}`,
      { code: ERROR_CODES.tls, cause: options.cause },
    );
  }
}

const TLS_FAILURES: Record<TlsFailure, string> = {
  "untrusted-certificate": "the server's certificate is not signed by a trusted CA",
  "hostname-mismatch": "the server's certificate does not name the host connected to",
  "expired-certificate": "the server's certificate is expired or not yet valid",
  "server-not-tls": "the server does not speak TLS there",
  "client-certificate-rejected": "the server wants a client certificate signed by a CA it trusts",
};

/** An error as it travels in a reply: plain JSON. */
export interface WireError {
  /** The class name: `DomainError`, `InvalidMessageError`, … */
  name: string;
  code: string;
  message: string;
  /** `DomainError` only. */
  details?: unknown;
  /** `InvalidMessageError` only: the message name, the failing part and the issues. */
  invalid?: { messageName: string; part: InvalidMessageError["part"]; issues: MessageIssue[] };
  /** `WireVersionError` only: the version the message came in and its name. */
  wireVersion?: { got: number; messageName: string };
}

/**
 * Whether `error` is a {@link DomainError}, also when it comes from another copy of this module (a
 * handler module that resolved its own copy of the runtime, e.g. loaded as CommonJS next to an ESM
 * host): `instanceof` alone would turn a deliberate refusal into an `INTERNAL` error, and a saga
 * would retry and compensate it as if the step had crashed.
 */
function isDomainError(error: unknown): error is DomainError {
  return (
    error instanceof DomainError ||
    (error instanceof Error &&
      error.name === "DomainError" &&
      typeof (error as { code?: unknown }).code === "string")
  );
}

/** Encodes an error a handler threw for the reply. Unknown exceptions become code `INTERNAL`. */
export function toWireError(error: unknown): WireError {
  if (isDomainError(error)) {
    return {
      name: error.name,
      code: error.code,
      message: error.message,
      ...(error.details === undefined ? {} : { details: error.details }),
    };
  }
  if (error instanceof InvalidMessageError) {
    return {
      name: error.name,
      code: error.code,
      message: error.message,
      invalid: { messageName: error.messageName, part: error.part, issues: [...error.issues] },
    };
  }
  if (error instanceof WireVersionError) {
    return {
      name: error.name,
      code: error.code,
      message: error.message,
      wireVersion: { got: error.got, messageName: error.messageName },
    };
  }
  if (error instanceof CatgaError) return { name: error.name, code: error.code, message: error.message };
  const message = error instanceof Error ? error.message : String(error);
  return { name: "CatgaError", code: ERROR_CODES.internal, message };
}

/**
 * Rebuilds the typed error of a reply at the caller: `DomainError` and `InvalidMessageError` as
 * themselves, anything else as a {@link CatgaError} with the remote code and message.
 */
export function fromWireError(wire: WireError): CatgaError {
  if (wire.name === "DomainError") {
    return new DomainError(
      wire.code,
      wire.message,
      wire.details === undefined ? {} : { details: wire.details },
    );
  }
  if (wire.name === "InvalidMessageError" && wire.invalid) {
    return new InvalidMessageError(wire.invalid.messageName, wire.invalid.part, wire.invalid.issues);
  }
  if (wire.name === "WireVersionError" && typeof wire.wireVersion?.got === "number") {
    return new WireVersionError(wire.wireVersion.got, String(wire.wireVersion.messageName ?? ""));
  }
  return new CatgaError(wire.message, { code: wire.code });
}
