/**
 * How each edge style is drawn, shared by the DOT, Mermaid and SVG emitters so the three drawings
 * and their legends agree. Colours are distinguishable for the common colour-vision deficiencies
 * and every style also differs in dash or width, so the picture survives a grey-scale print.
 */
import type { EdgeStyle } from "./graph.js";

/** One line style. */
export interface LineStyle {
  color: string;
  /** Stroke width in pixels. */
  width: number;
  /** SVG `stroke-dasharray`; absent for a solid line. */
  dash?: string;
  /** Graphviz `style`. */
  dot: "solid" | "dashed" | "dotted" | "bold";
  /** Whether the line ends in an arrow head. */
  arrow: boolean;
}

export const LINE_STYLES: Record<EdgeStyle, LineStyle> = {
  request: { color: "#334155", width: 1.5, dot: "solid", arrow: true },
  "event-group": { color: "#2563eb", width: 1.5, dash: "6 4", dot: "dashed", arrow: true },
  "event-broadcast": { color: "#2563eb", width: 3, dash: "6 4", dot: "dashed", arrow: true },
  "event-durable": { color: "#7c3aed", width: 1.5, dot: "solid", arrow: true },
  "event-durable-broadcast": { color: "#7c3aed", width: 3.5, dot: "bold", arrow: true },
  step: { color: "#c2410c", width: 1.5, dot: "solid", arrow: true },
  runs: { color: "#64748b", width: 1.5, dash: "2 3", dot: "dotted", arrow: false },
};

/** Fill and border of each node kind. */
export const NODE_STYLES: Record<
  "service" | "leader" | "saga" | "outside" | "nobody",
  { fill: string; stroke: string }
> = {
  service: { fill: "#f1f5f9", stroke: "#334155" },
  leader: { fill: "#fef3c7", stroke: "#92400e" },
  saga: { fill: "#ffedd5", stroke: "#c2410c" },
  outside: { fill: "#ffffff", stroke: "#64748b" },
  nobody: { fill: "#ffffff", stroke: "#94a3b8" },
};
