// Import direction of DESIGN.md: dsl <- compiler <- tooling (the local cluster and `catga up`…);
// runtime is a deployable plane that must never pull in build-time or developer code (Prisma keeps
// its runtime free of build-time code the same way).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "runtime-is-standalone",
      comment:
        "runtime/ must not import dsl/, compiler/ or tooling/: a deployed service needs only runtime and its wiring.",
      severity: "error",
      from: { path: "^runtime/" },
      to: { path: "^(dsl|compiler|tooling)/" },
    },
    {
      name: "dsl-is-the-bottom",
      comment: "dsl/ is syntax only: it must not import the compiler or the runtime.",
      severity: "error",
      from: { path: "^dsl/" },
      to: { path: "^(compiler|runtime|tooling)/" },
    },
    {
      name: "compiler-uses-only-wiring-schema",
      comment: "The compiler may import from runtime/ only the wiring schema.",
      severity: "error",
      from: { path: "^compiler/" },
      to: { path: "^runtime/", pathNot: "^runtime/wiring" },
    },
    {
      name: "compiler-is-not-tooling",
      comment: "compiler/ must not import tooling/: tooling sits on top of the compiler and the runtime.",
      severity: "error",
      from: { path: "^compiler/" },
      to: { path: "^tooling/" },
    },
    {
      name: "editors-stand-alone",
      comment:
        "editors/ ships alone (the VS Code extension is one bundle): it talks to catgac lsp over stdio and must not import the compiler, the language or the runtime.",
      severity: "error",
      from: { path: "^editors/" },
      to: { path: "^(dsl|compiler|runtime|tooling)/" },
    },
    {
      name: "no-circular",
      severity: "error",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)dist/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    // "catga-source": `@catga/runtime` resolves to runtime/*.ts (runtime/package.json "exports"),
    // so the rules above see the tooling's imports of the runtime package as imports of runtime/.
    enhancedResolveOptions: {
      extensions: [".ts", ".js"],
      conditionNames: ["catga-source", "import", "types", "default"],
    },
  },
};
