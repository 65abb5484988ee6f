/**
 * Every emitter of `catgac build`, and `emitAll`, which runs them in a fixed order. Emitters are
 * pure: a model and options in, files as data out. Writing them is the CLI's job.
 */
import { emitTopologySvg } from "../graph/index.js";
import type { TopologyModel } from "../model.js";
import type { EmitOptions, EmittedFile } from "./_files.js";
import { emitCompose } from "./compose.js";
import { emitK8s, type K8sEmitOptions } from "./k8s.js";
import { emitNats } from "./nats.js";
import { emitTypeScript } from "./typescript.js";
import { buildWiring, wiringFile } from "./wiring.js";

export { type EmitOptions, type EmittedFile, generatedHeader } from "./_files.js";
export { stableJson } from "./_json.js";
export { emitCompose } from "./compose.js";
export { emitK8s } from "./k8s.js";
export { emitNats, natsPermissions, natsServerConf } from "./nats.js";
export { emitTypeScript, type TypeScriptEmitOptions } from "./typescript.js";
export { buildWiring, emitWiring } from "./wiring.js";

/**
 * Every output of a build: TypeScript, wiring.json, docker-compose.yml with its .env.example and
 * Dockerfile, k8s.yaml and the NATS server config, sorted by path.
 *
 * @throws only on a compiler bug (an emitter producing an invalid wiring); never on user input,
 *   which the checker has already validated.
 */
export function emitAll(
  model: TopologyModel,
  options: EmitOptions & Pick<K8sEmitOptions, "certManagerIssuer">,
): EmittedFile[] {
  // Built (and validated) once: wiring.json, the TypeScript emitter and the wiring ConfigMap all
  // read this one value, so they cannot disagree and the wiring is not assembled again per emitter.
  const wiring = buildWiring(model, options);
  const wiringJsonFile = wiringFile(wiring);
  const files = [
    ...emitTypeScript(model, { ...options, wiring }),
    wiringJsonFile,
    ...emitCompose(model, { sourceName: options.sourceName }),
    ...emitK8s(model, { ...options, wiringJson: wiringJsonFile.content }),
    ...emitNats(model, { sourceName: options.sourceName }),
  ];
  const seen = new Set<string>();
  for (const f of files) {
    // Two emitters claiming one path would make the output depend on emitter order.
    if (seen.has(f.path)) throw new Error(`catgac bug: two emitters wrote '${f.path}'`);
    seen.add(f.path);
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Everything `catgac build` writes: {@link emitAll} and `topology.svg`, the topology drawn
 * (compiler/graph). Asynchronous only because the layout engine (ELK) answers with a Promise; the
 * files are still a pure function of the model and options.
 */
export async function emitBuild(
  model: TopologyModel,
  options: EmitOptions & Pick<K8sEmitOptions, "certManagerIssuer">,
): Promise<EmittedFile[]> {
  const files = emitAll(model, options);
  const svg = await emitTopologySvg(model, { sourceName: options.sourceName });
  if (files.some((f) => f.path === svg.path)) throw new Error(`catgac bug: two emitters wrote '${svg.path}'`);
  return [...files, svg].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
