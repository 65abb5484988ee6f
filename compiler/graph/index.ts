/**
 * `catgac graph` and the `topology.svg` of `catgac build`: the topology drawn. The graph is built
 * from the checked model (pure), laid out by ELK (the one asynchronous step) and drawn as SVG (pure);
 * Mermaid and DOT are drawn from the graph alone.
 */
import type { EmittedFile } from "../emit/_files.js";
import type { TopologyModel } from "../model.js";
import { buildGraph } from "./graph.js";
import { layoutGraph } from "./layout.js";
import { renderSvg, type SvgOptions } from "./svg.js";

export {
  buildGraph,
  DENSE_SERVICES,
  type EdgeStyle,
  edgeStyle,
  type GraphEdge,
  type GraphEdgeKind,
  type GraphNode,
  type GraphNodeKind,
  type LegendEntry,
  sagaId,
  serviceId,
  type TopologyGraph,
} from "./graph.js";
export { type GraphLayout, layoutGraph } from "./layout.js";
export { renderSvg, type SvgOptions } from "./svg.js";
export { emitDot, emitMermaid, type GraphTextOptions } from "./text.js";

/** The topology drawn as SVG: graph, ELK layout, drawing. */
export async function topologySvg(model: TopologyModel, options: SvgOptions): Promise<string> {
  const graph = buildGraph(model);
  return renderSvg(graph, await layoutGraph(graph), options);
}

/** `topology.svg` of `catgac build`. */
export async function emitTopologySvg(model: TopologyModel, options: SvgOptions): Promise<EmittedFile> {
  return { path: "topology.svg", content: await topologySvg(model, options) };
}
