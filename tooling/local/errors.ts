/**
 * Errors of the local cluster. Each is a broken or unexpected environment (a binary missing, no
 * cluster where one was expected), so the CLI prints its message as one line and exits 2.
 */

/** A server binary `catga up` needs is not on PATH. */
export class MissingBinaryError extends Error {
  override name = "MissingBinaryError";
  constructor(
    /** The executable that was looked for, e.g. `nats-server`. */
    readonly binary: string,
    /** The Debian package that installs it. */
    readonly debianPackage: string,
    options?: { cause?: unknown },
  ) {
    super(
      `'${binary}' is not on PATH: install it (Debian/Ubuntu: apt-get install ${debianPackage}), ` +
        "or run the topology in one process without servers: catga up FILE --memory",
      options,
    );
  }
}

/**
 * The local cluster is not in the state a command needs: none runs here, one already runs, or
 * the named instance or service does not exist.
 */
export class LocalClusterError extends Error {
  override name = "LocalClusterError";
}

/**
 * A signal (SIGINT, SIGTERM, SIGHUP) interrupted `catga up` while it was starting; everything it had
 * started is stopped by the time this is thrown.
 */
export class StartInterruptedError extends Error {
  override name = "StartInterruptedError";
  constructor(
    /** The signal, e.g. `SIGINT`. */
    readonly signal: string,
    /** How many processes (servers and instances) had been started and were stopped. */
    readonly stopped: number,
  ) {
    super(
      `${signal} during start-up: stopped the ${stopped} process${stopped === 1 ? "" : "es"} started so far`,
    );
  }
}
