/**
 * The .catga language: lexer, parser, AST, diagnostics shape and formatter. Named exports only;
 * files starting with `_` are private to this folder.
 */
export type {
  BlockItem,
  CatgaFile,
  Comment,
  Declaration,
  DocComment,
  DurationLiteral,
  EnumDecl,
  EnumMember,
  EveryItem,
  Field,
  HandlesItem,
  Identifier,
  InfraDecl,
  IntLiteral,
  MessageDecl,
  NamesItem,
  OnItem,
  Position,
  SagaDecl,
  SagaItem,
  SagaStep,
  SagaTrigger,
  ServiceDecl,
  ServiceItem,
  ServiceSetting,
  Setting,
  Span,
  StringLiteral,
  TimeoutItem,
  TopologyDecl,
  TypeDecl,
  TypeRef,
  Value,
} from "./ast.js";
export {
  DIAGNOSTIC_CODES,
  type Diagnostic,
  type DiagnosticCode,
  diagnostic,
  hasErrors,
  type RelatedInformation,
  type Result,
  type Severity,
  sortDiagnostics,
} from "./diagnostics.js";
export { format } from "./format.js";
export { MAX_SOURCE_BYTES, parse } from "./source.js";
export { closest } from "./suggest.js";
