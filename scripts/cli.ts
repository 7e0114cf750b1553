import { ConfigError } from '../server/config';

/**
 * Run a command-line tool: exit with the code its `main` returns, or print one line naming what
 * went wrong (a configuration problem names the variable) and exit 1.
 */
export function runCli(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`${name}: ${err instanceof ConfigError ? err.message : (err as Error).message}`);
      process.exit(1);
    },
  );
}
