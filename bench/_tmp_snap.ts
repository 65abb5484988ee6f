import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { checkSource } from "../compiler/check/index.js";
import { emitAll } from "../compiler/emit/index.js";
import { generateTopology } from "./compiler/generate.js";

const out: string[] = [];
const inputs: [string, string][] = [];
for (const p of readdirSync("examples", { recursive: true, encoding: "utf8" })
  .filter((p) => p.endsWith(".catga"))
  .sort())
  inputs.push([basename(p), readFileSync(join("examples", p), "utf8")]);
for (const n of [4, 37, 100, 1000]) inputs.push([`gen${n}.catga`, generateTopology(n)]);
for (const [name, text] of inputs) {
  const model = checkSource(text, name).value!;
  for (const f of emitAll(model, { sourceName: name }))
    out.push(`${name} ${f.path} ${createHash("sha256").update(f.content).digest("hex")}`);
}
writeFileSync(process.argv[2]!, `${out.join("\n")}\n`);
