/**
 * Certificates for TLS integration tests, made with `openssl` by the same code as `catga certs`
 * (tooling/certs): a CA, a server certificate valid for 127.0.0.1 and localhost (plus any extra
 * names), a client certificate, a server certificate for another name only, and a second CA that signed nothing the servers use (the "wrong
 * CA"), all in a temporary folder that `remove()` deletes.
 *
 * When `openssl` is missing the tests fail with the tool's message (install the Debian package
 * `openssl`; .ci/run does).
 */
import { join } from "node:path";
import { makeCertificates } from "../../tooling/certs/index.js";
import { tempDir } from "./_process.js";

/** Paths of the test certificates. */
export interface TestCertificates {
  readonly dir: string;
  /** The CA that signed {@link server} and {@link client}. */
  readonly ca: string;
  /** Valid for 127.0.0.1, localhost and the extra names. */
  readonly server: { cert: string; key: string };
  /** A client certificate (clientAuth) signed by {@link ca}. */
  readonly client: { cert: string; key: string };
  /** A server certificate signed by {@link ca} that names only `elsewhere.invalid`. */
  readonly elsewhere: { cert: string; key: string };
  /** A CA that signed nothing here: trusting only it must fail. */
  readonly otherCa: string;
  remove(): void;
}

/** Makes the certificates. @param extraNames more DNS names for the server certificate. */
export async function makeTestCertificates(extraNames: readonly string[] = []): Promise<TestCertificates> {
  const dir = tempDir("certs");
  try {
    const main = await makeCertificates({
      dir: dir.path,
      certificates: [
        { name: "server", kind: "server", altNames: ["127.0.0.1", "localhost", ...extraNames] },
        { name: "client", kind: "client" },
        { name: "elsewhere", kind: "server", altNames: ["elsewhere.invalid"] },
      ],
    });
    const other = await makeCertificates({ dir: join(dir.path, "other"), certificates: [] });
    return {
      dir: dir.path,
      ca: main.ca,
      server: main.certificates.server!,
      client: main.certificates.client!,
      elsewhere: main.certificates.elsewhere!,
      otherCa: other.ca,
      remove: dir.remove,
    };
  } catch (error) {
    dir.remove();
    throw error;
  }
}
