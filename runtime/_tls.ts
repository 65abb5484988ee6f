/**
 * Tells a TLS verification failure from a network failure. Node reports certificate problems with
 * OpenSSL's codes (`SELF_SIGNED_CERT_IN_CHAIN`, `ERR_TLS_CERT_ALTNAME_INVALID`, …); ioredis' Sentinel
 * connector keeps only the message of the last error ("All sentinels are unreachable… Last error:
 * self-signed certificate…") and its Cluster keeps the node's error in `lastNodeError`, so the
 * classifier looks at codes, wrapped errors and known messages.
 */
import { isIP } from "node:net";
import { type ConnectionOptions, connect } from "node:tls";
import { TlsError, type TlsFailure } from "./errors.js";

const CODES: Record<string, TlsFailure> = {
  SELF_SIGNED_CERT_IN_CHAIN: "untrusted-certificate",
  DEPTH_ZERO_SELF_SIGNED_CERT: "untrusted-certificate",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "untrusted-certificate",
  UNABLE_TO_GET_ISSUER_CERT: "untrusted-certificate",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "untrusted-certificate",
  CERT_SIGNATURE_FAILURE: "untrusted-certificate",
  CERT_UNTRUSTED: "untrusted-certificate",
  ERR_TLS_CERT_ALTNAME_INVALID: "hostname-mismatch",
  CERT_HAS_EXPIRED: "expired-certificate",
  CERT_NOT_YET_VALID: "expired-certificate",
  ERR_SSL_WRONG_VERSION_NUMBER: "server-not-tls",
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: "client-certificate-rejected",
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: "client-certificate-rejected",
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: "client-certificate-rejected",
};

const MESSAGES: [RegExp, TlsFailure][] = [
  [
    /self[- ]signed certificate|unable to verify the first certificate|unable to get (local )?issuer certificate/i,
    "untrusted-certificate",
  ],
  [/does not match certificate's altnames/i, "hostname-mismatch"],
  [/certificate has expired|certificate is not yet valid/i, "expired-certificate"],
  [/wrong version number|packet length too long|unknown protocol|does not support 'tls'/i, "server-not-tls"],
  [/alert certificate required|alert bad certificate|alert unknown ca/i, "client-certificate-rejected"],
];

/** The kind of TLS failure `error` (or an error it wraps) is, if it is one. */
export function tlsFailureOf(error: unknown): { failure: TlsFailure; error: Error } | undefined {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current instanceof Error && !seen.has(current)) {
    seen.add(current);
    if (current instanceof TlsError) return { failure: current.failure, error: current };
    const code = (current as { code?: unknown }).code;
    const byCode = typeof code === "string" ? CODES[code] : undefined;
    if (byCode !== undefined) return { failure: byCode, error: current };
    for (const [pattern, failure] of MESSAGES) {
      if (pattern.test(current.message)) return { failure, error: current };
    }
    current = (current as { lastNodeError?: unknown }).lastNodeError ?? current.cause;
  }
  return undefined;
}

/**
 * `error` as a {@link TlsError} naming `server`, when it is a TLS verification failure.
 *
 * @param fixes What to change per failure; the untrusted-certificate fix names the CA variable.
 */
export function asTlsError(
  error: unknown,
  server: string,
  fixes: { caVariable: string; certVariable: string; keyVariable: string; serverNameVariable?: string },
): TlsError | undefined {
  const found = tlsFailureOf(error);
  if (found === undefined) return undefined;
  if (found.error instanceof TlsError) return found.error;
  const fix: Record<TlsFailure, string> = {
    "untrusted-certificate": `set ${fixes.caVariable} to the CA certificate that signed the server's certificate`,
    "hostname-mismatch":
      "connect by a name the server's certificate lists in its subjectAltName, or reissue the certificate with this name" +
      (fixes.serverNameVariable !== undefined
        ? ` (or set ${fixes.serverNameVariable} to a name it lists)`
        : ""),
    "expired-certificate": "renew the server's certificate",
    "server-not-tls": "turn TLS on at the server, or off at the client",
    "client-certificate-rejected": `set ${fixes.certVariable} and ${fixes.keyVariable} to a client certificate the server trusts`,
  };
  return new TlsError(server, found.failure, fix[found.failure], { cause: found.error });
}

/**
 * Opens a TLS connection to `host:port` with `options` and closes it: resolves with the handshake's
 * error, or undefined when it succeeded. For clients that swallow the cause of a failed handshake
 * (ioredis reports "Connection is closed" for sentinels and cluster nodes).
 */
export function probeTls(
  host: string,
  port: number,
  options: ConnectionOptions,
  timeoutMs = 2000,
): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const socket = connect({
      host,
      port,
      ...options,
      ...(options.servername === undefined && isIP(host) === 0 ? { servername: host } : {}),
    });
    const done = (error: Error | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(error);
    };
    let timer = setTimeout(() => done(undefined), timeoutMs);
    // With TLS 1.3 a server that wants a client certificate refuses it after the client's side of
    // the handshake is done: wait a moment for that alert before calling the handshake good.
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      timer = setTimeout(() => done(undefined), 300);
    });
    socket.once("error", (error) => done(error));
  });
}
