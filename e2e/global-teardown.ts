import fs from 'node:fs/promises';

/** Remove the run's embedded database folder (the web server has stopped by now). */
export default async function globalTeardown(): Promise<void> {
  const dir = process.env.E2E_DATA_DIR;
  if (dir && dir.includes('dd-e2e-')) await fs.rm(dir, { recursive: true, force: true });
}
