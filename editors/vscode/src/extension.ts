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
  await start();
}

export async function deactivate(): Promise<void> {
  await stop();
}

async function restart(): Promise<void> {
  await stop();
  await start();
}

async function stop(): Promise<void> {
  const running = client;
  client = undefined;
  if (running) await running.stop();
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
    const choice = await vscode.window.showWarningMessage(resolution.message, "Open Settings", "Show Log");
    if (choice === "Open Settings")
      await vscode.commands.executeCommand("workbench.action.openSettings", "catga.server.path");
    else if (choice === "Show Log") output?.show();
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
