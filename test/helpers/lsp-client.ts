/**
 * A real LSP client for tests: spawns `node bin/catgac.js lsp --stdio` (the built package, as an
 * editor starts it) and talks JSON-RPC to it with vscode-languageserver-protocol.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  createProtocolConnection,
  type Diagnostic,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  ExitNotification,
  InitializedNotification,
  InitializeRequest,
  type ProtocolConnection,
  PublishDiagnosticsNotification,
  ShutdownRequest,
  StreamMessageReader,
  StreamMessageWriter,
  type TextDocumentContentChangeEvent,
} from "vscode-languageserver-protocol/node.js";

const REPO_ROOT = new URL("../..", import.meta.url).pathname;

/** Diagnostics published for one version of one document. */
export interface Published {
  version: number | undefined;
  diagnostics: Diagnostic[];
}

/** How the server process is started, for the benchmark. */
export interface ServerOptions {
  /** Flags of the server's node process, e.g. `--expose-gc`. @default [] */
  nodeFlags?: readonly string[];
  /** Added to the server's environment. @default {} */
  env?: Record<string, string>;
}

export class LspClient {
  readonly connection: ProtocolConnection;
  readonly process: ChildProcess;
  /** Everything the server wrote to stderr and logged: a test fails on an internal error. */
  readonly log: string[] = [];
  private readonly published = new Map<string, Published[]>();
  private readonly waiters: { uri: string; version: number; resolve: (p: Published) => void }[] = [];
  private versions = new Map<string, number>();

  private constructor(options: ServerOptions) {
    if (!existsSync(join(REPO_ROOT, "dist/tooling/lsp/index.js")))
      throw new Error("run `npm run build` first: dist/ is missing");
    this.process = spawn(
      process.execPath,
      [...(options.nodeFlags ?? []), "bin/catgac.js", "lsp", "--stdio"],
      {
        cwd: REPO_ROOT,
        stdio: ["pipe", "pipe", "pipe"],
        env: { ...process.env, ...options.env },
      },
    );
    this.process.stderr!.on("data", (chunk: Buffer) => this.log.push(chunk.toString()));
    this.connection = createProtocolConnection(
      new StreamMessageReader(this.process.stdout!),
      new StreamMessageWriter(this.process.stdin!),
    );
    this.connection.onNotification("window/logMessage", (p: { message: string }) => this.log.push(p.message));
    this.connection.onNotification(PublishDiagnosticsNotification.type, (p) => {
      const list = this.published.get(p.uri) ?? [];
      list.push({ version: p.version, diagnostics: p.diagnostics });
      this.published.set(p.uri, list);
      for (const w of [...this.waiters]) {
        if (w.uri === p.uri && (p.version ?? -1) >= w.version) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve({ version: p.version, diagnostics: p.diagnostics });
        }
      }
    });
    this.connection.listen();
  }

  /** Starts the server and completes the initialize handshake. */
  static async start(
    options: ServerOptions = {},
  ): Promise<{ client: LspClient; capabilities: Record<string, unknown> }> {
    const client = new LspClient(options);
    const result = await client.connection.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: null,
      capabilities: {},
      workspaceFolders: null,
    });
    await client.connection.sendNotification(InitializedNotification.type, {});
    return { client, capabilities: result.capabilities as Record<string, unknown> };
  }

  async open(uri: string, text: string): Promise<Published> {
    this.versions.set(uri, 1);
    const wait = this.diagnosticsFor(uri, 1);
    await this.connection.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri, languageId: "catga", version: 1, text },
    });
    return wait;
  }

  /** Sends edits as one new version; returns that version. */
  async change(uri: string, changes: TextDocumentContentChangeEvent[]): Promise<number> {
    const version = (this.versions.get(uri) ?? 0) + 1;
    this.versions.set(uri, version);
    await this.connection.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri, version },
      contentChanges: changes,
    });
    return version;
  }

  /** The first diagnostics published for `version` of `uri` or a later one. */
  diagnosticsFor(uri: string, version: number): Promise<Published> {
    const already = (this.published.get(uri) ?? []).find((p) => (p.version ?? -1) >= version);
    if (already) return Promise.resolve(already);
    return new Promise((resolve) => this.waiters.push({ uri, version, resolve }));
  }

  async stop(): Promise<number | null> {
    const exited = new Promise<number | null>((resolve) =>
      this.process.once("exit", (code) => resolve(code)),
    );
    try {
      await this.connection.sendRequest(ShutdownRequest.type);
      await this.connection.sendNotification(ExitNotification.type);
    } catch {
      this.process.kill();
    }
    const code = await exited;
    this.connection.dispose();
    return code;
  }
}
