/**
 * Process entry of `catga`, the runtime's command line. The runtime commands (`run`, `up`,
 * `status`, `kill`, `scale`, `down`) are built in later issues; until then this entry answers
 * `--help` and `--version` truthfully and refuses everything else with exit code 2.
 */
export function runCatga(argv: readonly string[]): void {
  const [command] = argv;
  if (command === "-v" || command === "--version") {
    process.stdout.write("0.1.0\n");
    return;
  }
  const help = `catga — the Catga runtime

Usage: catga <command>

No runtime commands are available in this version; use 'catgac' to check and format topologies.
`;
  if (command === "-h" || command === "--help") {
    process.stdout.write(help);
    return;
  }
  process.stderr.write(command === undefined ? help : `catga: unknown command '${command}'\n`);
  process.exitCode = 2;
}
