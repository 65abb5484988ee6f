import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { init } from "../../tooling/cli/init.js";
import { tempDir } from "../harness/_process.js";

/**
 * `catga init` in-process on temporary folders: what it writes, keeps and refuses. (The whole user
 * path, from the packed packages through `catga up`, is init.integration.test.ts.)
 */
describe("catga init — the command", () => {
  let dir: ReturnType<typeof tempDir>;
  let out: string;
  let err: string;
  const io = {
    stdout: (t: string) => {
      out += t;
    },
    stderr: (t: string) => {
      err += t;
    },
  };

  beforeEach(() => {
    dir = tempDir("init-cli");
    out = "";
    err = "";
  });
  afterEach(() => dir.remove());

  it("init — a new folder gets a project named after it; a second run keeps every file", async () => {
    const app = join(dir.path, "order-desk");
    expect(await init([app], io)).toBe(0);
    expect(readFileSync(join(app, "orderDesk.catga"), "utf8")).toContain("topology orderDesk");
    for (const f of [
      "package.json",
      "tsconfig.json",
      ".gitignore",
      "services/greeter.ts",
      "services/audit.ts",
      "client.ts",
    ])
      expect(existsSync(join(app, f)), f).toBe(true);
    writeFileSync(join(app, "services/greeter.ts"), "// mine\n");
    out = "";
    expect(await init([app], io)).toBe(0);
    expect(out).toContain("nothing was missing");
    expect(readFileSync(join(app, "services/greeter.ts"), "utf8")).toBe("// mine\n");
  });

  it("init — beside a topology with a custom handler path: the skeleton goes there and imports the build of the file", async () => {
    writeFileSync(
      join(dir.path, "desk.catga"),
      'topology desk\n\ncommand Ping { n: int } -> int\n\nservice pinger {\n  handles Ping\n  handler "src/pinger.ts"\n}\n',
    );
    expect(await init([dir.path], io)).toBe(0);
    const skeleton = readFileSync(join(dir.path, "src/pinger.ts"), "utf8");
    expect(skeleton).toContain('import { definePinger } from "../out/desk/client.js";');
    expect(skeleton).toContain('todo("pinger: command Ping")');
    expect(JSON.parse(readFileSync(join(dir.path, "package.json"), "utf8")).scripts.build).toBe(
      "catgac build desk.catga",
    );
  });

  it("init — a topology with errors: printed, exit 1, nothing written", async () => {
    writeFileSync(join(dir.path, "bad.catga"), "topology bad\n\nservice s {\n  handles Nope\n}\n");
    expect(await init([dir.path], io)).toBe(1);
    expect(err).toContain("Nope");
    expect(existsSync(join(dir.path, "services"))).toBe(false);
    expect(existsSync(join(dir.path, "package.json"))).toBe(false);
  });

  it("init — two topologies in the folder: exit 2, asking to name one", async () => {
    mkdirSync(dir.path, { recursive: true });
    writeFileSync(join(dir.path, "a.catga"), "topology a\n");
    writeFileSync(join(dir.path, "b.catga"), "topology b\n");
    expect(await init([dir.path], io)).toBe(2);
    expect(err).toContain("a.catga, b.catga");
  });
});
