import { readFileSync } from "node:fs";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { generateTopology } from "../../bench/compiler/generate.js";
import { checkSource } from "../../compiler/check/index.js";
import {
  buildGraph,
  DENSE_SERVICES,
  layoutGraph,
  renderSvg,
  topologySvg,
} from "../../compiler/graph/index.js";
import type { TopologyModel } from "../../compiler/model.js";

/**
 * The SVG drawing of `catgac graph` and `topology.svg`: well-formed XML, every service and message
 * in it (the data attributes docs/build.md promises the dashboard), same bytes on every run, and
 * no two boxes or labels drawn over each other — on the shop, the small fixture and a generated
 * 50-service topology.
 */

const SHOP = "examples/shop/shop.catga";
const SMALL = "test/golden/graph/small/input.catga";

function model(text: string, file: string): TopologyModel {
  const { value, diagnostics } = checkSource(text, file);
  expect(diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return value!;
}

interface Box {
  id: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** What the SVG says, read back with a real XML parser. */
function readSvg(svg: string) {
  expect(XMLValidator.validate(svg)).toBe(true);
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(svg);
  const groups = (parent: unknown): Record<string, unknown>[] => {
    const g = (parent as { g?: Record<string, unknown> | Record<string, unknown>[] }).g;
    return g === undefined ? [] : Array.isArray(g) ? g : [g];
  };
  const root = doc.svg;
  const [body] = groups(root);
  const [edges, nodes] = groups(body);
  const services = groups(nodes)
    .map((n) => n["data-service"])
    .filter((s): s is string => typeof s === "string");
  const messages = new Set<string>();
  for (const n of groups(nodes)) {
    for (const m of String(n["data-entries"] ?? "").split(" ")) if (m) messages.add(m);
  }
  for (const e of groups(edges)) {
    for (const key of ["data-message", "data-compensation"]) {
      if (typeof e[key] === "string") messages.add(e[key] as string);
    }
  }
  return { services, messages };
}

function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

async function expectReadable(m: TopologyModel): Promise<void> {
  const graph = buildGraph(m);
  const layout = await layoutGraph(graph);
  const boxes = [...layout.nodes.values()];
  const labels = [...layout.edges.values()].flatMap((e) => (e.label ? [{ id: e.id, ...e.label }] : []));
  const clashes: string[] = [];
  for (const [i, a] of boxes.entries()) {
    for (const b of boxes.slice(i + 1)) if (overlaps(a, b)) clashes.push(`${a.id} / ${b.id}`);
    for (const l of labels) if (overlaps(a, l)) clashes.push(`${a.id} / label of ${l.id}`);
  }
  for (const [i, a] of labels.entries()) {
    for (const b of labels.slice(i + 1)) if (overlaps(a, b)) clashes.push(`label ${a.id} / label ${b.id}`);
  }
  expect(clashes).toEqual([]);
}

describe("graph svg", () => {
  for (const file of [SHOP, SMALL]) {
    it(`graph — ${file}: parses as XML and names every service and message`, async () => {
      const m = model(readFileSync(file, "utf8"), file);
      const { services, messages } = readSvg(await topologySvg(m, { sourceName: "x.catga" }));
      expect(services.sort()).toEqual(m.services.map((s) => s.name).sort());
      expect([...messages].sort()).toEqual(m.messages.map((x) => x.name).sort());
    });

    it(`graph — ${file}: byte-identical across two runs`, async () => {
      const m = model(readFileSync(file, "utf8"), file);
      const once = await topologySvg(m, { sourceName: "x.catga" });
      const twice = await topologySvg(model(readFileSync(file, "utf8"), file), { sourceName: "x.catga" });
      expect(twice).toBe(once);
    });

    it(`graph — ${file}: no box or edge label drawn over another`, async () => {
      await expectReadable(model(readFileSync(file, "utf8"), file));
    });
  }

  it("graph — a generated 50-service topology: every service and message, labels kept, nothing overlaps", async () => {
    const m = model(generateTopology(50), "bench.catga");
    expect(m.services).toHaveLength(50);
    expect(50).toBeLessThanOrEqual(DENSE_SERVICES);
    const graph = buildGraph(m);
    const layout = await layoutGraph(graph);
    expect(layout.edgeLabels).toBe(true);
    const svg = renderSvg(graph, layout, { sourceName: "bench.catga" });
    const { services, messages } = readSvg(svg);
    expect(services).toHaveLength(50);
    expect([...messages].sort()).toEqual(m.messages.map((x) => x.name).sort());
    // Wrapped into rows: a page, not a strip many screens wide.
    expect(layout.width).toBeLessThan(2.5 * layout.height);
    // Known limit (docs/build.md § topology.svg): ELK's wrapping leaves a few edges that cross a row
    // break unrouted or ending at the break. Pinned so that it cannot get worse unnoticed.
    const broken = graph.edges.filter((e) => {
      const points = layout.edges.get(e.id)?.points ?? [];
      const end = points[points.length - 1];
      const to = layout.nodes.get(e.to)!;
      return !(
        end &&
        end.x >= to.x - 2 &&
        end.x <= to.x + to.width + 2 &&
        end.y >= to.y - 2 &&
        end.y <= to.y + to.height + 2
      );
    });
    expect(graph.edges).toHaveLength(170);
    expect(broken.length).toBeLessThanOrEqual(6);
    await expectReadable(m);
  }, 600_000);

  it(`graph — above ${DENSE_SERVICES} services the SVG leaves edge labels out and says so`, async () => {
    const m = model(readFileSync(SMALL, "utf8"), SMALL);
    // The rule reads the service count only; a small graph claiming many keeps the test fast.
    const graph = { ...buildGraph(m), services: DENSE_SERVICES + 1 };
    const layout = await layoutGraph(graph);
    expect(layout.edgeLabels).toBe(false);
    const svg = renderSvg(graph, layout, { sourceName: "small.catga" });
    expect(svg).toContain("edge labels left out");
    expect(svg).not.toContain('<text x="0" y="0"');
    expect(svg.match(/<rect [^>]*fill-opacity="0.9"/g)).toBeNull();
    expect(readSvg(svg).messages.size).toBe(m.messages.length);
  });
});

describe("graph docs image", () => {
  it("graph — docs/images/shop-topology.svg is what catgac graph draws for the shop (npm run docs:images)", async () => {
    const m = model(readFileSync(SHOP, "utf8"), SHOP);
    expect(readFileSync("docs/images/shop-topology.svg", "utf8")).toBe(
      await topologySvg(m, { sourceName: "shop.catga" }),
    );
  });
});
