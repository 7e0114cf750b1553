// Generates the Prisma client (server/db/generated). Runs after `npm install`.
// prisma.config.ts points the CLI at a placeholder schema engine so nothing is downloaded.
import { spawnSync } from 'node:child_process';

const r = spawnSync('npx', ['prisma', 'generate'], {
  stdio: 'inherit',
  env: { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' },
});
process.exit(r.status ?? 1);
