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
