// `npm start`: build whatever is missing or older than the sources, then run the server.
// A fresh clone needs only `npm install && npm start`.
import { spawnSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = process.cwd();
const marker = path.join(root, 'dist', 'server.js');

function newestMtime(dir) {
  let newest = 0;
  if (!fs.existsSync(dir)) return 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const p = path.join(dir, entry.name);
    const t = entry.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs;
    if (t > newest) newest = t;
  }
  return newest;
}

const sources = Math.max(
  ...['app', 'server', 'protocol', 'prisma', 'public'].map((d) => newestMtime(path.join(root, d))),
  ...['next.config.js', 'package.json'].map((f) => (fs.existsSync(f) ? fs.statSync(f).mtimeMs : 0)),
);
const built = fs.existsSync(marker) && fs.existsSync(path.join(root, '.next', 'BUILD_ID')) ? fs.statSync(marker).mtimeMs : 0;

if (built < sources) {
  console.log('Building Dispatch Desk (first start or sources changed)…');
  const r = spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const child = spawn(process.execPath, ['--enable-source-maps', marker], {
  stdio: 'inherit',
  // glibc serves big allocations from its heap once one was freed, and keeps them: every sign-in's
  // 16 MB scrypt buffer stayed in the process (about 100 MB after 30 sign-ins at once). A fixed
  // threshold keeps such buffers in their own mappings, given back when freed.
  env: { NODE_ENV: 'production', NEXT_TELEMETRY_DISABLED: '1', MALLOC_MMAP_THRESHOLD_: '131072', ...process.env },
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 0 : 1)));
