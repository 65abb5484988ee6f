/**
 * Certificates for TLS between the services, NATS and Redis, made with the `openssl` command: one
 * certificate authority, one server certificate per server name set, and client certificates.
 * Used by `catga certs` (certificates for the emitted compose files), by `catga up --tls` and by the
 * integration tests (test/harness/certs.ts), so what the tests prove is what users get.
 *
 * Keys are ECDSA P-256 (fast to make; NATS, Redis and Node accept them). Server certificates carry
 * both `serverAuth` and `clientAuth`: a Redis replica or cluster node, and a NATS route, is a client
 * of its peer with the same certificate.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** `openssl` is not on PATH or failed. */
export class CertificateToolError extends Error {
  override name = "CertificateToolError";
}

/** One certificate to make, signed by the CA. */
export interface CertificateRequest {
  /** File stem: `<name>.crt` and `<name>.key` in the output folder. Letters, digits, `.`, `-`, `_`. */
  name: string;
  /** Subject common name. @default name */
  commonName?: string;
  /** DNS names and IP addresses (IPv4 dotted or IPv6) the certificate is valid for. */
  altNames?: readonly string[];
  /** `server` (serverAuth + clientAuth) or `client` (clientAuth only). */
  kind: "server" | "client";
}

/** Options of {@link makeCertificates}. */
export interface MakeCertificatesOptions {
  /** The folder to write into (created if missing). */
  dir: string;
  /** The certificates besides the CA. */
  certificates: readonly CertificateRequest[];
  /**
   * Reuse `ca.crt` / `ca.key` already in `dir` instead of making a new CA, so certificates added
   * later are trusted by clients that hold the old CA.
   * @default false
   */
  reuseCa?: boolean;
  /** Validity in days. @default 825 */
  days?: number;
  /** The `openssl` executable. @default "openssl" */
  openssl?: string;
}

/** What {@link makeCertificates} wrote: absolute paths. */
export interface CertificateFiles {
  /** The CA certificate: what clients and servers trust (`ca.crt`). */
  ca: string;
  /** The CA's key (`ca.key`): keep it away from the servers. */
  caKey: string;
  /** Per requested name: its certificate and key. */
  certificates: Record<string, { cert: string; key: string }>;
}

const NAME = /^[A-Za-z0-9._-]+$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * Makes a CA (or reuses the one in `dir`) and the requested certificates, each signed by it.
 *
 * @throws CertificateToolError when `openssl` is missing (with the package to install) or fails
 *   (with its output), or a name is not a plain file stem.
 */
export async function makeCertificates(options: MakeCertificatesOptions): Promise<CertificateFiles> {
  const { dir } = options;
  const openssl = options.openssl ?? "openssl";
  const days = String(options.days ?? 825);
  mkdirSync(dir, { recursive: true });
  const ca = join(dir, "ca.crt");
  const caKey = join(dir, "ca.key");
  let haveCa = false;
  if (options.reuseCa) {
    try {
      readFileSync(ca);
      readFileSync(caKey);
      haveCa = true;
    } catch {
      haveCa = false;
    }
  }
  if (!haveCa) {
    await run(openssl, [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      caKey,
      "-out",
      ca,
      "-days",
      days,
      "-subj",
      "/CN=catga CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
  }
  const certificates: CertificateFiles["certificates"] = {};
  for (const request of options.certificates) {
    if (!NAME.test(request.name) || request.name === "ca") {
      throw new CertificateToolError(
        `certificate name '${request.name}' must be a plain file stem other than 'ca'`,
      );
    }
    const key = join(dir, `${request.name}.key`);
    const cert = join(dir, `${request.name}.crt`);
    const csr = join(dir, `${request.name}.csr`);
    const ext = join(dir, `${request.name}.ext`);
    await run(openssl, [
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      key,
      "-out",
      csr,
      "-subj",
      `/CN=${(request.commonName ?? request.name).replace(/[/\\]/g, "_")}`,
    ]);
    const alt = (request.altNames ?? []).map((n) =>
      IPV4.test(n) || n.includes(":") ? `IP:${n}` : `DNS:${n}`,
    );
    writeFileSync(
      ext,
      [
        "basicConstraints=CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        `extendedKeyUsage=${request.kind === "server" ? "serverAuth,clientAuth" : "clientAuth"}`,
        ...(alt.length > 0 ? [`subjectAltName=${alt.join(",")}`] : []),
        "",
      ].join("\n"),
    );
    await run(openssl, [
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      ca,
      "-CAkey",
      caKey,
      "-set_serial",
      `0x${randomSerial()}`,
      "-out",
      cert,
      "-days",
      days,
      "-extfile",
      ext,
    ]);
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
    certificates[request.name] = { cert, key };
  }
  return { ca, caKey, certificates };
}

function randomSerial(): string {
  let s = "";
  for (let i = 0; i < 16; i++) s += Math.floor(Math.random() * 16).toString(16);
  return `1${s}`;
}

function run(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.once("error", (error: NodeJS.ErrnoException) => {
      reject(
        error.code === "ENOENT"
          ? new CertificateToolError(
              `'${command}' is not on PATH: install it to make certificates (Debian/Ubuntu: apt-get install openssl)`,
              { cause: error },
            )
          : new CertificateToolError(`cannot run '${command}': ${error.message}`, { cause: error }),
      );
    });
    child.once("close", (code) => {
      if (code === 0) resolve();
      else
        reject(
          new CertificateToolError(
            `'${command} ${args.slice(0, 2).join(" ")}' failed (exit ${code}): ${out.trim()}`,
          ),
        );
    });
  });
}
