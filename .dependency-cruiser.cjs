// Import direction of DESIGN.md: dsl <- compiler <- CLI; runtime is a deployable plane that must
// never pull in build-time code (Prisma keeps its runtime free of build-time code the same way).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "runtime-is-standalone",
      comment:
        "runtime/ must not import dsl/ or compiler/: a deployed service needs only runtime and its wiring.",
      severity: "error",
      from: { path: "^runtime/" },
      to: { path: "^(dsl|compiler)/" },
    },
    {
      name: "dsl-is-the-bottom",
      comment: "dsl/ is syntax only: it must not import the compiler or the runtime.",
      severity: "error",
      from: { path: "^dsl/" },
      to: { path: "^(compiler|runtime)/" },
    },
    {
      name: "compiler-uses-only-wiring-schema",
      comment: "The compiler may import from runtime/ only the wiring schema.",
      severity: "error",
      from: { path: "^compiler/" },
      to: { path: "^runtime/", pathNot: "^runtime/wiring" },
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
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
  },
};
