/**
 * Lays a topology graph out with ELK (the Eclipse Layout Kernel, compiled to JavaScript: `elkjs`),
 * its layered algorithm left to right with orthogonal edges. Catga measures the boxes and labels;
 * ELK places them and routes the edges; {@link renderSvg} draws what ELK computed.
 *
 * ELK answers with a Promise, so this is the one asynchronous step of a drawing: the graph before
 * it and the SVG after it are pure functions. Layout is deterministic: ELK's layered algorithm
 * seeds its randomness with a fixed value, and the input lists are sorted.
 */
import elkBundled, { type ElkExtendedEdge, type ElkNode } from "elkjs/lib/elk.bundled.js";
import { DENSE_SERVICES, type GraphNode, type TopologyGraph } from "./graph.js";

// The bundled build is CommonJS whose `module.exports` is the constructor, with itself as `default`;
// under NodeNext the typings see the module object, so the constructor is taken from `default`. The
// bundled build runs ELK in this thread (no worker file to locate), which keeps the CLI one process.
const ELK = elkBundled.default;

/** Text metrics of the drawing. The SVG uses a monospace font so widths follow from character counts. */
export const TEXT = {
  titleSize: 13,
  lineSize: 11,
  labelSize: 11,
  /** Advance of one monospace character, as a fraction of the font size (DejaVu Sans Mono, Menlo). */
  charWidth: 0.61,
  padding: 10,
  titleHeight: 18,
  lineHeight: 15,
  labelHeight: 15,
} as const;

/** A point of a routed edge. */
export interface Point {
  x: number;
  y: number;
}

/** Where ELK put a node. */
export interface PlacedNode {
  id: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** How ELK routed an edge, and where its label goes (absent when labels are left out). */
export interface PlacedEdge {
  id: string;
  /** Start, bend points and end, in order. */
  points: Point[];
  label?: { x: number; y: number; width: number; height: number };
}

/** A graph with coordinates. */
export interface GraphLayout {
  width: number;
  height: number;
  nodes: Map<string, PlacedNode>;
  edges: Map<string, PlacedEdge>;
  /** Whether edge labels are drawn: false above {@link DENSE_SERVICES} services. */
  edgeLabels: boolean;
}

/** Width of a text in the drawing's monospace font. */
export function textWidth(text: string, size: number): number {
  return [...text].length * size * TEXT.charWidth;
}

/** The size of a node's box from its text. */
export function nodeSize(node: GraphNode): { width: number; height: number } {
  const widest = Math.max(
    textWidth(node.name, TEXT.titleSize),
    ...node.lines.map((line) => textWidth(line, TEXT.lineSize)),
  );
  return {
    width: round(widest + 2 * TEXT.padding),
    height: round(TEXT.titleHeight + node.lines.length * TEXT.lineHeight + 2 * TEXT.padding - 4),
  };
}

const LAYOUT_OPTIONS: Record<string, string> = {
  "elk.algorithm": "layered",
  "elk.direction": "RIGHT",
  "elk.edgeRouting": "ORTHOGONAL",
  "elk.randomSeed": "1",
  "elk.spacing.nodeNode": "28",
  "elk.spacing.edgeEdge": "12",
  "elk.spacing.edgeNode": "16",
  "elk.spacing.edgeLabel": "3",
  "elk.layered.spacing.nodeNodeBetweenLayers": "48",
  "elk.layered.spacing.edgeNodeBetweenLayers": "16",
  "elk.layered.spacing.edgeEdgeBetweenLayers": "10",
  "elk.edgeLabels.placement": "CENTER",
  "elk.layered.nodePlacement.strategy": "NETWORK_SIMPLEX",
  "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
  "elk.padding": "[top=16,left=16,bottom=16,right=16]",
};

/**
 * Above this many services the layers are wrapped into rows (ELK's graph wrapping), so a long chain
 * of services becomes a page rather than one strip many screens wide.
 */
export const WRAP_SERVICES = 12;

const WRAPPED: Record<string, string> = {
  "elk.layered.wrapping.strategy": "MULTI_EDGE",
  "elk.aspectRatio": "1.6",
};

/** Lays out the graph. Resolves to coordinates for every node and edge. */
export async function layoutGraph(graph: TopologyGraph): Promise<GraphLayout> {
  const edgeLabels = graph.services <= DENSE_SERVICES;
  const input: ElkNode = {
    id: "root",
    layoutOptions: graph.services > WRAP_SERVICES ? { ...LAYOUT_OPTIONS, ...WRAPPED } : LAYOUT_OPTIONS,
    children: graph.nodes.map((node) => ({ id: node.id, ...nodeSize(node) })),
    edges: graph.edges.map(
      (edge): ElkExtendedEdge => ({
        id: edge.id,
        sources: [edge.from],
        targets: [edge.to],
        ...(edgeLabels
          ? {
              labels: [
                {
                  text: edge.label,
                  width: round(textWidth(edge.label, TEXT.labelSize) + 6),
                  height: TEXT.labelHeight,
                },
              ],
            }
          : {}),
      }),
    ),
  };
  // A new ELK per layout: the bundled build keeps counters between runs, and one instance per
  // call keeps two drawings of the same graph identical whatever ran before.
  const result = await new ELK().layout(input);
  const nodes = new Map<string, PlacedNode>();
  for (const child of result.children ?? []) {
    nodes.set(child.id, {
      id: child.id,
      x: round(child.x ?? 0),
      y: round(child.y ?? 0),
      width: round(child.width ?? 0),
      height: round(child.height ?? 0),
    });
  }
  const edges = new Map<string, PlacedEdge>();
  for (const edge of (result.edges ?? []) as ElkExtendedEdge[]) {
    const points: Point[] = [];
    for (const section of edge.sections ?? []) {
      points.push(section.startPoint, ...(section.bendPoints ?? []), section.endPoint);
    }
    const label = edge.labels?.[0];
    edges.set(edge.id, {
      id: edge.id,
      points: points.map((p) => ({ x: round(p.x), y: round(p.y) })),
      // No route, no label: ELK leaves the label of an unrouted edge where it landed, over others.
      ...(label !== undefined && points.length > 0
        ? {
            label: {
              x: round(label.x ?? 0),
              y: round(label.y ?? 0),
              width: round(label.width ?? 0),
              height: round(label.height ?? 0),
            },
          }
        : {}),
    });
  }
  return { width: round(result.width ?? 0), height: round(result.height ?? 0), nodes, edges, edgeLabels };
}

/** One decimal: enough for a drawing, and short, stable numbers in the SVG. */
export function round(value: number): number {
  return Math.round(value * 10) / 10;
}
