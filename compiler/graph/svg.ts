/**
 * The SVG drawing of a laid-out topology graph. Pure: the graph and ELK's coordinates in, a string
 * out. Self-contained (no fonts, stylesheets or scripts to load), so it works as an `<img>`, in a
 * README and inline in the dashboard.
 *
 * The contract with the dashboard (docs/build.md): every service box is a `<g id="svc-NAME"
 * data-service="NAME">`, every saga box a `<g id="saga-NAME" data-saga="NAME">`, every message edge a
 * `<g data-message="MESSAGE" data-from="NODE-ID" data-to="NODE-ID" data-style="STYLE">` (a saga step
 * edge also names the compensation it carries in `data-compensation`).
 */
import { generatedHeader } from "../emit/_files.js";
import { LINE_STYLES, NODE_STYLES } from "./_styles.js";
import { type EdgeStyle, edgeStyle, type GraphNode, type TopologyGraph } from "./graph.js";
import { type GraphLayout, round, TEXT, textWidth } from "./layout.js";
import { nodeClass } from "./text.js";

/** Options of the SVG drawing. */
export interface SvgOptions {
  /** The topology file's base name, shown in the header comment. */
  sourceName: string;
}

const FONT = "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace";
const HEADER = 34;
const LEGEND_ROW = 18;

/** Draws the graph at the coordinates of `layout`. */
export function renderSvg(graph: TopologyGraph, layout: GraphLayout, options: SvgOptions): string {
  const legendWidth =
    Math.max(
      ...graph.legend.map((e) => 56 + textWidth(e.text, TEXT.labelSize)),
      ...graph.notes.map((n) => textWidth(n, TEXT.labelSize)),
    ) + 32;
  const legendHeight = 28 + (graph.legend.length + graph.notes.length) * LEGEND_ROW;
  const width = round(Math.max(layout.width, legendWidth, 320));
  const height = round(HEADER + layout.height + legendHeight + 8);
  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<!-- ${generatedHeader(options.sourceName, "//").slice(3)} -->`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}" data-topology="${xml(graph.name)}">`,
    `<title>${xml(`topology ${graph.name}`)}</title>`,
    "<defs>",
  ];
  for (const style of Object.keys(LINE_STYLES) as EdgeStyle[]) {
    const s = LINE_STYLES[style];
    if (!s.arrow) continue;
    out.push(
      `<marker id="arrow-${style}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="${s.color}"/></marker>`,
    );
  }
  out.push("</defs>");
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(
    `<text x="16" y="22" font-size="15" font-weight="bold" fill="#0f172a">${xml(`topology ${graph.name}`)}</text>`,
  );
  out.push(`<g transform="translate(0,${HEADER})">`);

  out.push('<g class="edges">');
  for (const edge of graph.edges) {
    const placed = layout.edges.get(edge.id);
    // An edge ELK returned without a route (it happens across row breaks of a wrapped layout) is
    // kept without a line: the group and its data-message stay for the dashboard.
    const points = placed?.points ?? [];
    const style = edgeStyle(edge);
    const s = LINE_STYLES[style];
    const d = points.map((p, i) => `${i === 0 ? "M" : "L"}${p.x},${p.y}`).join(" ");
    const message =
      (edge.message !== undefined ? ` data-message="${xml(edge.message)}"` : "") +
      (edge.compensation !== undefined ? ` data-compensation="${xml(edge.compensation)}"` : "");
    out.push(
      `<g class="edge" id="edge-${xml(edge.id)}"${message} data-from="${xml(edge.from)}" data-to="${xml(edge.to)}" data-style="${style}">`,
    );
    out.push(`<title>${xml(`${edge.label}: ${edge.from} → ${edge.to}`)}</title>`);
    if (points.length > 0) {
      out.push(
        `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.width}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}${s.arrow ? ` marker-end="url(#arrow-${style})"` : ""}/>`,
      );
    }
    if (layout.edgeLabels && placed?.label !== undefined && points.length > 0) {
      const l = placed.label;
      out.push(
        `<rect x="${l.x}" y="${l.y}" width="${l.width}" height="${l.height}" rx="3" fill="#ffffff" fill-opacity="0.9"/>`,
      );
      out.push(
        `<text x="${round(l.x + 3)}" y="${round(l.y + l.height - 4)}" font-size="${TEXT.labelSize}" fill="${s.color}">${xml(edge.label)}</text>`,
      );
    }
    out.push("</g>");
  }
  out.push("</g>");

  out.push('<g class="nodes">');
  for (const node of graph.nodes) {
    const placed = layout.nodes.get(node.id);
    if (placed === undefined) continue;
    out.push(
      `<g class="node ${nodeClass(node)}" id="${xml(node.id)}"${nodeData(node)} transform="translate(${placed.x},${placed.y})">`,
    );
    out.push(drawBox(node, placed.width, placed.height));
    out.push(
      `<text x="${TEXT.padding}" y="${TEXT.padding + TEXT.titleSize}" font-size="${TEXT.titleSize}" font-weight="bold" fill="#0f172a">${xml(node.name)}</text>`,
    );
    node.lines.forEach((line, i) => {
      const y = round(TEXT.padding + TEXT.titleHeight + (i + 1) * TEXT.lineHeight - 4);
      out.push(
        `<text x="${TEXT.padding}" y="${y}" font-size="${TEXT.lineSize}" fill="#334155">${xml(line)}</text>`,
      );
    });
    out.push("</g>");
  }
  out.push("</g>");
  out.push("</g>");

  const top = round(HEADER + layout.height + 4);
  out.push(`<g class="legend" transform="translate(16,${top})">`);
  out.push(
    `<text x="0" y="12" font-size="${TEXT.labelSize}" font-weight="bold" fill="#0f172a">legend${layout.edgeLabels ? "" : ` (${graph.services} services: edge labels left out, hover an edge for its message)`}</text>`,
  );
  graph.legend.forEach((entry, i) => {
    const s = LINE_STYLES[entry.style];
    const y = 28 + i * LEGEND_ROW;
    out.push(
      `<path d="M0,${y - 4} L40,${y - 4}" fill="none" stroke="${s.color}" stroke-width="${s.width}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}${s.arrow ? ` marker-end="url(#arrow-${entry.style})"` : ""}/>`,
    );
    out.push(`<text x="52" y="${y}" font-size="${TEXT.labelSize}" fill="#334155">${xml(entry.text)}</text>`);
  });
  graph.notes.forEach((note, i) => {
    const y = 28 + (graph.legend.length + i) * LEGEND_ROW;
    out.push(`<text x="0" y="${y}" font-size="${TEXT.labelSize}" fill="#334155">${xml(note)}</text>`);
  });
  out.push("</g>");
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

function nodeData(node: GraphNode): string {
  switch (node.kind) {
    case "service":
      return ` data-service="${xml(node.name)}" data-mode="${node.mode ?? "p2p"}"${node.entries ? ` data-entries="${xml(node.entries.join(" "))}"` : ""}`;
    case "saga":
      return ` data-saga="${xml(node.name)}"`;
    default:
      return "";
  }
}

function drawBox(node: GraphNode, width: number, height: number): string {
  const s = NODE_STYLES[nodeClass(node)];
  if (node.kind === "outside" || node.kind === "nobody") {
    const dash = node.kind === "nobody" ? ' stroke-dasharray="4 3"' : "";
    return `<rect width="${width}" height="${height}" rx="${round(height / 2)}" fill="${s.fill}" stroke="${s.stroke}" stroke-width="1.5"${dash}/>`;
  }
  // Sagas get a doubled left edge, like a subroutine box in a flowchart.
  const bar =
    node.kind === "saga" ? `<path d="M6,0 L6,${height}" stroke="${s.stroke}" stroke-width="1"/>` : "";
  return `<rect width="${width}" height="${height}" rx="${node.kind === "saga" ? 2 : 6}" fill="${s.fill}" stroke="${s.stroke}" stroke-width="1.5"/>${bar}`;
}

/** Escapes text for XML content and attribute values. */
function xml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c] ?? c,
  );
}
