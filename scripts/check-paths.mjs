// Part of `npm run check`: no file in the tree may name a path that exists only on one machine
// (this checkout's own location, a home or workspace folder, a temp folder). Such a path works on
// the machine that wrote it and fails everywhere else. Scans every file git tracks or would add.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = execFileSync('git', ['rev-parse', '--show-toplevel'], { encoding: 'utf8' }).trim();
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: root, encoding: 'utf8' })
  .split('\0')
  .filter((f) => f && f !== 'package-lock.json' && fs.existsSync(path.join(root, f)));

/** Folders that belong to one machine or one user. System locations (/usr/bin, /etc) are fine. */
const MACHINE_PATH = /(?<![\w.~-])(?:\/work\/|\/home\/[\w.-]+|\/root\/|\/Users\/[\w.-]+|\/tmp\/[\w.-]|[A-Za-z]:\\Users\\)/;
const checkout = root.endsWith('/') ? root : `${root}/`;

const problems = [];
for (const file of files) {
  const buf = fs.readFileSync(path.join(root, file));
  if (buf.includes(0)) continue; // binary
  const lines = buf.toString('utf8').split('\n');
  lines.forEach((line, i) => {
    if (line.includes(checkout) || MACHINE_PATH.test(line)) problems.push(`${file}:${i + 1}: ${line.trim().slice(0, 160)}`);
  });
}

if (problems.length > 0) {
  console.error('Paths that exist only on one machine (use paths relative to the repository, os.tmpdir() or an env var):');
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`check-paths: ${files.length} files, no machine-specific paths`);
