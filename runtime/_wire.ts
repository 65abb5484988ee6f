/**
 * The wire format shared by the client side (bus) and the serving side (host): header names, JSON
 * encoding, ids and W3C trace context. Private to runtime/.
 */
import { randomFillSync, randomUUID } from "node:crypto";
import { type CatgaError, fromWireError, InvalidMessageError, type WireError } from "./errors.js";
import type { Headers } from "./transport/types.js";

/** Header names. `traceparent` is the W3C name; the others are ours. */
export const H = {
  messageId: "Catga-Message-Id",
  /** Absent when it equals the message id: the first message of a chain starts it. */
  correlationId: "Catga-Correlation-Id",
  traceparent: "traceparent",
  /** Epoch milliseconds by which the caller stops waiting. */
  deadline: "Catga-Deadline",
  /** The schema id of the payload's message, so a mismatch between builds is visible in logs. */
  schema: "Catga-Schema",
  /**
   * On an error reply: `error`, with a {@link WireError} as the body. A reply without it is a
   * result: most replies are results, and a reply without headers costs the caller no header
   * parsing at all.
   */
  status: "Catga-Status",
  /** On an error reply: the error's code, readable without parsing the body. */
  errorCode: "Catga-Error-Code",
} as const;

const decoder = new TextDecoder("utf-8", { fatal: true });

/** JSON bytes of a value (`Date`s become ISO strings, as JSON.stringify does). */
export function encode(value: unknown): Uint8Array {
  // Buffer.from, not TextEncoder: for the small payloads of most messages it copies into a shared
  // slab instead of allocating a new buffer per message, and the bytes are the same UTF-8.
  return Buffer.from(JSON.stringify(value ?? null));
}

/**
 * Parses JSON bytes.
 *
 * @throws InvalidMessageError when the bytes are not UTF-8 JSON.
 */
export function decode(data: Uint8Array, messageName: string, part: InvalidMessageError["part"]): unknown {
  try {
    return data.length === 0 ? null : JSON.parse(decoder.decode(data));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new InvalidMessageError(messageName, part, [{ path: "", message: `not valid JSON: ${reason}` }], {
      cause: error,
    });
  }
}

/** The correlation id of a received message: its own id when it started the chain. */
export function correlationOf(headers: Headers): string {
  return headers[H.correlationId] || headers[H.messageId] || "";
}

/** A new message or correlation id. */
export function newId(): string {
  return randomUUID();
}

/**
 * A W3C traceparent continuing `parent`'s trace with a new span, or starting a new sampled trace.
 * (https://www.w3.org/TR/trace-context/#traceparent-header)
 */
export function childTraceparent(parent?: string): string {
  const match = parent === undefined ? null : TRACEPARENT.exec(parent);
  if (match === null) {
    // A new trace: its trace id and span id from one draw of 24 bytes (one native call, not two).
    const hex = randomHex(24);
    return `00-${hex.slice(0, 32)}-${hex.slice(32)}-01`;
  }
  return `00-${match[1]}-${randomHex(8)}-${match[2]}`;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$/;

// Random bytes are drawn from the system in large blocks, as crypto.randomUUID does: a
// `randomBytes` call per trace and span id cost more than everything else a request does on the
// calling side, and the cost of a fill is mostly per call, not per byte.
const RANDOM_BLOCK = 65536;
const randomBlock = Buffer.allocUnsafe(RANDOM_BLOCK);
let randomOffset = RANDOM_BLOCK;

/**
 * Six random bytes in base64url (8 characters, safe in a NATS subject token): the part of a reply
 * subject a process that has not seen the request cannot guess.
 */
export function randomToken(): string {
  if (randomOffset + 6 > RANDOM_BLOCK) {
    randomFillSync(randomBlock);
    randomOffset = 0;
  }
  const token = randomBlock.toString("base64url", randomOffset, randomOffset + 6);
  randomOffset += 6;
  return token;
}

/** `bytes` cryptographically random bytes, as hex. */
function randomHex(bytes: number): string {
  if (randomOffset + bytes > RANDOM_BLOCK) {
    randomFillSync(randomBlock);
    randomOffset = 0;
  }
  const hex = randomBlock.toString("hex", randomOffset, randomOffset + bytes);
  randomOffset += bytes;
  return hex;
}

/** The typed error carried by an error reply. */
export function errorFromReply(data: Uint8Array, headers: Headers, messageName: string): CatgaError {
  let wire: WireError | undefined;
  try {
    wire = JSON.parse(decoder.decode(data)) as WireError;
  } catch {
    wire = undefined;
  }
  if (wire === undefined || typeof wire.name !== "string" || typeof wire.message !== "string") {
    wire = {
      name: "CatgaError",
      code: headers[H.errorCode] ?? "INTERNAL",
      message: `an unreadable error reply to ${messageName}`,
    };
  }
  return fromWireError(wire);
}
