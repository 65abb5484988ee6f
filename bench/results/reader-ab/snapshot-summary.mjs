import { readFileSync } from "node:fs";

const s = JSON.parse(readFileSync(process.argv[2], "utf8"));
const f = s.snapshot.meta.node_fields,
  types = s.snapshot.meta.node_types[0];
const n = f.length,
  ti = f.indexOf("type"),
  ni = f.indexOf("name"),
  si = f.indexOf("self_size");
const by = new Map();
for (let i = 0; i < s.nodes.length; i += n) {
  const t = types[s.nodes[i + ti]];
  if (
    t !== "object" &&
    t !== "closure" &&
    t !== "array" &&
    t !== "string" &&
    t !== "concatenated string" &&
    t !== "sliced string"
  )
    continue;
  const name = t === "object" || t === "closure" ? `${t}:${s.strings[s.nodes[i + ni]]}` : t;
  const e = by.get(name) ?? [0, 0];
  e[0]++;
  e[1] += s.nodes[i + si];
  by.set(name, e);
}
const out = {};
for (const [k, v] of by) out[k] = v;
console.log(JSON.stringify(out));
