import path from 'node:path';
import { defineConfig } from 'prisma/config';

// `prisma generate` never runs the schema engine; pointing the CLI at a file that exists stops it
// from trying to download the native engine (unreachable in offline and air-gapped installs).
process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= path.join(import.meta.dirname, 'scripts', 'no-schema-engine.sh');

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
});
