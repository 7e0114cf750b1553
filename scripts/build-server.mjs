// Bundles the custom server (server/index.ts and its imports, including the generated Prisma
// client and the shared protocol module) into dist/server.js; npm packages stay external.
import { build } from 'esbuild';

await build({
  entryPoints: ['server/index.ts'],
  outfile: 'dist/server.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
console.log('server bundled to dist/server.js');
