/**
 * The Mermaid and DOT drawings of a topology graph: text for docs and other tools (Mermaid renders
 * in GitHub Markdown; DOT feeds Graphviz). Pure: a graph in, a string out.
 */
import { generatedHeader } from "../emit/_files.js";
import { LINE_STYLES, NODE_STYLES } from "./_styles.js";
import { type EdgeStyle, edgeStyle, type GraphNode, type TopologyGraph } from "./graph.js";

/** Options of the text drawings. */
export interface GraphTextOptions {
  /** The topology file's base name, shown in the header comment. */
  sourceName: string;
}

/** The graph as a Mermaid flowchart, left to right, with the legend as comments. */
export function emitMermaid(graph: TopologyGraph, options: GraphTextOptions): string {
  const out = [`%% ${generatedHeader(options.sourceName, "//").slice(3)}`, "flowchart LR"];
  for (const node of graph.nodes) {
    const text = [`<b>${mermaidText(node.name)}</b>`, ...node.lines.map(mermaidText)].join("<br/>");
    const [open, close] = mermaidShape(node);
    out.push(`  ${mermaidId(node.id)}${open}"${text}"${close}`);
  }
  const byStyle = new Map<EdgeStyle, number[]>();
  graph.edges.forEach((edge, i) => {
    const style = edgeStyle(edge);
    byStyle.set(style, [...(byStyle.get(style) ?? []), i]);
    const arrow = {
      request: "-->",
      "event-group": "-.->",
      "event-broadcast": "==>",
      "event-durable": "-->",
      "event-durable-broadcast": "==>",
      step: "-->",
      runs: "-.-",
    }[style];
    out.push(`  ${mermaidId(edge.from)} ${arrow}|"${mermaidText(edge.label)}"| ${mermaidId(edge.to)}`);
  });
  for (const kind of ["service", "leader", "saga", "outside", "nobody"] as const) {
    const s = NODE_STYLES[kind];
    out.push(`  classDef ${kind} fill:${s.fill},stroke:${s.stroke}`);
  }
  for (const node of graph.nodes) out.push(`  class ${mermaidId(node.id)} ${nodeClass(node)}`);
  for (const entry of graph.legend) {
    const indexes = byStyle.get(entry.style);
    if (indexes === undefined) continue;
    const s = LINE_STYLES[entry.style];
    const dash = s.dash ? `,stroke-dasharray:${s.dash}` : "";
    out.push(`  linkStyle ${indexes.join(",")} stroke:${s.color},stroke-width:${s.width}px${dash}`);
  }
  out.push("%% legend:");
  for (const entry of graph.legend) out.push(`%%   ${entry.style}: ${entry.text}`);
  for (const note of graph.notes) out.push(`%%   ${note}`);
  return `${out.join("\n")}\n`;
}

/** The graph as a Graphviz digraph, left to right, with the legend as a cluster. */
export function emitDot(graph: TopologyGraph, options: GraphTextOptions): string {
  const out = [
    generatedHeader(options.sourceName, "//"),
    `digraph ${dotString(graph.name)} {`,
    '  graph [rankdir=LR, fontname="Helvetica", nodesep=0.4, ranksep=0.9];',
    '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
    '  edge [fontname="Helvetica", fontsize=10];',
  ];
  for (const node of graph.nodes) {
    const s = NODE_STYLES[nodeClass(node)];
    const shape = node.kind === "outside" || node.kind === "nobody" ? ", shape=oval" : "";
    const label = [node.name, ...node.lines].join("\n");
    out.push(
      `  ${dotString(node.id)} [label=${dotString(label)}, fillcolor="${s.fill}", color="${s.stroke}"${shape}];`,
    );
  }
  for (const edge of graph.edges) {
    const s = LINE_STYLES[edgeStyle(edge)];
    const head = s.arrow ? "" : ", arrowhead=none";
    out.push(
      `  ${dotString(edge.from)} -> ${dotString(edge.to)} [label=${dotString(edge.label)}, color="${s.color}", fontcolor="${s.color}", style=${s.dot}, penwidth=${s.width}${head}];`,
    );
  }
  out.push(
    "  subgraph cluster_legend {",
    '    label="legend"; fontname="Helvetica"; fontsize=10; color="#cbd5e1";',
  );
  out.push("    node [shape=plaintext, style=solid, fontsize=10];");
  graph.legend.forEach((entry, i) => {
    const s = LINE_STYLES[entry.style];
    const head = s.arrow ? "" : ", arrowhead=none";
    out.push(`    legend_${i}a [label=""]; legend_${i}b [label=${dotString(entry.text)}];`);
    out.push(
      `    legend_${i}a -> legend_${i}b [color="${s.color}", style=${s.dot}, penwidth=${s.width}${head}];`,
    );
  });
  for (const [i, note] of graph.notes.entries()) out.push(`    legend_note_${i} [label=${dotString(note)}];`);
  out.push("  }", "}");
  return `${out.join("\n")}\n`;
}

/** The style class of a node: leaders differ from p2p services. */
export function nodeClass(node: GraphNode): keyof typeof NODE_STYLES {
  if (node.kind === "service") return node.mode === "leader" ? "leader" : "service";
  return node.kind;
}

function mermaidShape(node: GraphNode): [string, string] {
  switch (node.kind) {
    case "service":
      return ["[", "]"];
    case "saga":
      return ["[[", "]]"];
    case "outside":
      return ["([", "])"];
    case "nobody":
      return ["((", "))"];
  }
}

/** Mermaid ids cannot hold '-' safely (it reads as an arrow): node ids use '_' there. */
function mermaidId(id: string): string {
  return id.replace(/[^A-Za-z0-9_]/g, "_");
}

/** Mermaid strings take entity codes for the characters that end or break them. */
function mermaidText(text: string): string {
  return text.replace(/[&"<>]/g, (c) => ({ "&": "#amp;", '"': "#quot;", "<": "#lt;", ">": "#gt;" })[c] ?? c);
}

function dotString(text: string): string {
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}
