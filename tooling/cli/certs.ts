/**
 * `catga certs`: certificates for the compose or the Kubernetes deployment of a topology, made with
 * `openssl` by the code the TLS tests use (tooling/certs): a CA (kept when one is already in the
 * folder, so certificates added later are trusted by clients that hold it) and one server
 * certificate per emitted server kind, valid for the host names that deployment gives them. The
 * file names are the ones docker-compose.yml mounts from `./certs`, and the ones k8s.yaml's header
 * puts into its TLS Secrets (docs/build.md, TLS).
 */
import { chmodSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { checkSource } from "../../compiler/check/index.js";
import { renderHuman } from "../../compiler/cli/render.js";
import { composeCertificateNames } from "../../compiler/emit/compose.js";
import { k8sCertificateNames } from "../../compiler/emit/k8s.js";
import { CertificateToolError, makeCertificates } from "../certs/index.js";
import { defaultOut } from "../local/cluster.js";

interface Io {
  stdout(t: string): void;
  stderr(t: string): void;
}

/** The text of `catga certs --help`. */
export const CERTS_HELP = `catga certs — certificates for a topology's compose or Kubernetes deployment

Usage: catga certs --topology FILE [--for compose|kubernetes] [--out DIR]

Makes, with openssl, a CA (ca.crt, ca.key; an existing one in DIR is kept) and the server
certificates: nats.crt/nats.key for the NATS servers, redis.crt/redis.key for the Redis servers and
sentinels, each valid for the host names the deployment gives them, localhost and 127.0.0.1.
Server keys are made readable by all (mode 0644: the Redis container reads its key as its own
user); keep the folder private and ca.key away from the servers.

  --for compose      (default) the names of docker-compose.yml, which mounts ./certs
  --for kubernetes   the pod and Service names of k8s.yaml; its header gives the kubectl commands
                     that put these files into the TLS Secrets

Options:
  --topology FILE  the .catga file
  --for TARGET     compose or kubernetes (default: compose)
  --out DIR        where to write (default: out/<topology>/certs for compose,
                   out/<topology>/certs-k8s for kubernetes: next to the files of
                   'catgac build FILE' with its default output folder)
  -h, --help       show this help

Exit codes: 0 written (or nothing to do: TLS off), 1 openssl failed or is missing, 2 usage error or
a topology with errors.
`;

/** `catga certs`. */
export async function certs(argv: readonly string[], io: Io): Promise<number> {
  let values: { topology?: string; out?: string; for?: string; help?: boolean };
  try {
    values = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        topology: { type: "string" },
        out: { type: "string" },
        for: { type: "string", default: "compose" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    io.stderr(`catga certs: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout(CERTS_HELP);
    return 0;
  }
  if (values.for !== "compose" && values.for !== "kubernetes") {
    io.stderr(`catga certs: --for takes compose or kubernetes, not '${values.for}'\n`);
    return 2;
  }
  if (values.topology === undefined) {
    io.stderr("catga certs: no topology: pass --topology FILE\n");
    return 2;
  }
  let source: string;
  try {
    source = readFileSync(values.topology, "utf8");
  } catch (error) {
    io.stderr(
      `catga certs: cannot read ${values.topology}: ${(error as NodeJS.ErrnoException).code ?? String(error)}\n`,
    );
    return 2;
  }
  const { value: model, diagnostics } = checkSource(source, values.topology);
  const errors = diagnostics.filter((d) => d.severity === "error");
  if (model === undefined || errors.length > 0) {
    for (const d of errors) io.stderr(`${renderHuman(d, source, false)}\n`);
    return 2;
  }
  const kubernetes = values.for === "kubernetes";
  const names = kubernetes ? k8sCertificateNames(model) : composeCertificateNames(model);
  const dir = values.out ?? join(defaultOut(values.topology), kubernetes ? "certs-k8s" : "certs");
  const requests = [
    ...(names.nats ? [{ name: "nats", kind: "server" as const, altNames: names.nats }] : []),
    ...(names.redis ? [{ name: "redis", kind: "server" as const, altNames: names.redis }] : []),
  ];
  if (requests.length === 0) {
    io.stdout(
      "catga certs: TLS is off (or no server is emitted) for this topology: no certificates needed\n",
    );
    return 0;
  }
  try {
    const files = await makeCertificates({ dir, certificates: requests, reuseCa: true });
    chmodSync(files.caKey, 0o600);
    for (const { key } of Object.values(files.certificates)) chmodSync(key, 0o644);
    io.stdout(
      [
        `catga certs: wrote to ${dir}:`,
        `  ca.crt, ca.key (the CA)`,
        ...requests.map((r) => `  ${r.name}.crt, ${r.name}.key for ${r.altNames.join(", ")}`),
        "",
      ].join("\n"),
    );
    return 0;
  } catch (error) {
    io.stderr(`catga certs: ${error instanceof Error ? error.message : String(error)}\n`);
    return error instanceof CertificateToolError ? 1 : 2;
  }
}
