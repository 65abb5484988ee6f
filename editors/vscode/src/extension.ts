import * as vscode from "vscode";
import {
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
} from "vscode-languageclient/node.js";
import { resolveServer, type ServerCommand } from "./server-path.js";

/**
 * The Catga extension: the language, its TextMate grammar and language configuration come from
 * package.json; this file only starts the language server, `catgac lsp --stdio` of the workspace's
 * own catga package, and restarts it when its path setting changes.
 */

let client: LanguageClient | undefined;
let output: vscode.OutputChannel | undefined;
/** Starts and stops run one after another: a settings change and a trust grant together must not start two servers. */
let lifecycle: Promise<void> = Promise.resolve();

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("Catga");
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand("catga.restartServer", () => restart()),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("catga.server.path")) void restart();
    }),
    vscode.workspace.onDidChangeWorkspaceFolders(() => {
      if (!client) void restart();
    }),
    // The server runs code from the workspace (its node_modules): wait for the user to trust it.
    vscode.workspace.onDidGrantWorkspaceTrust(() => void restart()),
  );
  await serially(start);
}

export async function deactivate(): Promise<void> {
  await serially(stop);
}

function restart(): Promise<void> {
  return serially(async () => {
    await stop();
    await start();
  });
}

function serially(step: () => Promise<void>): Promise<void> {
  lifecycle = lifecycle.then(step, step);
  return lifecycle;
}

async function stop(): Promise<void> {
  const running = client;
  client = undefined;
  if (!running) return;
  try {
    await running.stop();
  } catch (error) {
    // A server that already exited cannot be stopped; a restart must go on regardless.
    output?.appendLine(`Stopping the server: ${error instanceof Error ? error.message : String(error)}`);
  }
}

async function start(): Promise<void> {
  if (!vscode.workspace.isTrusted) {
    output?.appendLine("Workspace not trusted: the language server stays off (highlighting still works).");
    return;
  }
  const resolution = resolveServer({
    serverPath: vscode.workspace.getConfiguration("catga").get<string>("server.path"),
    folders: (vscode.workspace.workspaceFolders ?? []).map((folder) => folder.uri.fsPath),
  });
  if (!resolution.found) {
    output?.appendLine(`${resolution.message}\nSearched:\n  ${resolution.searched.join("\n  ")}`);
    // Not awaited: the notification may stay open, and activation and restarts must not wait for it.
    void vscode.window.showWarningMessage(resolution.message, "Open Settings", "Show Log").then((choice) => {
      if (choice === "Open Settings")
        void vscode.commands.executeCommand("workbench.action.openSettings", "catga.server.path");
      else if (choice === "Show Log") output?.show();
    });
    return;
  }
  const server = resolution.server;
  output?.appendLine(`Starting ${describe(server)} (found via ${server.source}).`);
  const executable = {
    command: server.command,
    args: server.args,
    options: { shell: server.shell, cwd: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath },
  };
  const serverOptions: ServerOptions = { run: executable, debug: executable };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "catga" },
      { scheme: "untitled", language: "catga" },
    ],
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.catga") },
    ...(output ? { outputChannel: output } : {}),
  };
  // The id "catga" makes the client read the `catga.trace.server` setting.
  client = new LanguageClient("catga", "Catga Language Server", serverOptions, clientOptions);
  try {
    await client.start();
  } catch (error) {
    client = undefined;
    const reason = error instanceof Error ? error.message : String(error);
    void vscode.window.showErrorMessage(
      `The Catga language server (${describe(server)}) did not start: ${reason}. Is your catga package recent enough to have 'catgac lsp'?`,
    );
  }
}

function describe(server: ServerCommand): string {
  return [server.command, ...server.args].join(" ");
}
