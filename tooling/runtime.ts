/**
 * `catga/runtime`, kept for projects written before the runtime became its own package: the same
 * module as `@catga/runtime` (one copy, so `instanceof` on its errors holds across both names).
 * `export *` because this is an alias of a whole entry point; listing the names would only let the
 * two drift apart.
 */
export * from "@catga/runtime";
