// Lint for the whole tree: Next.js (core web vitals), React hooks, typescript-eslint with type
// information, and two rules that keep every file independent of where the checkout lives.
import path from 'node:path';
import { defineConfig, globalIgnores } from 'eslint/config';
import nextVitals from 'eslint-config-next/core-web-vitals';
import nextTs from 'eslint-config-next/typescript';
import tseslint from 'typescript-eslint';

const root = import.meta.dirname;

/**
 * An import must stay inside the repository: a relative path that climbs out of it works only on
 * the machine where the outside file happens to exist.
 */
const inTreeImports = {
  meta: {
    type: 'problem',
    docs: { description: 'forbid relative imports that resolve outside the repository' },
    messages: { outside: 'Import "{{source}}" resolves outside the repository ({{resolved}}).' },
    schema: [],
  },
  create(context) {
    const check = (node) => {
      const source = node.source?.value;
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const resolved = path.resolve(path.dirname(context.filename), source);
      const rel = path.relative(root, resolved);
      if (rel.startsWith('..') || path.isAbsolute(rel)) {
        context.report({ node: node.source, messageId: 'outside', data: { source, resolved: rel } });
      }
    };
    return {
      ImportDeclaration: check,
      ExportAllDeclaration: check,
      ExportNamedDeclaration: check,
      ImportExpression: check,
    };
  },
};

export default defineConfig([
  ...nextVitals,
  ...nextTs,
  {
    files: ['**/*.{ts,tsx,mts,cts}'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: root },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Fire-and-forget is written `void promise` on purpose; anything else unhandled is a bug.
      '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: true }],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { attributes: false, arguments: false } }],
    },
  },
  {
    plugins: { local: { rules: { 'in-tree-imports': inTreeImports } } },
    rules: {
      // A `let` read by a shutdown handler before its one assignment must stay a `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      'local/in-tree-imports': 'error',
      // An import by absolute path ties the file to one machine.
      'import/no-absolute-path': 'error',
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^(/|[A-Za-z]:[\\\\/]|file:)', message: 'Absolute paths tie a file to one machine: import relative to the repository.' }] },
      ],
    },
  },
  {
    // Playwright fixtures call `use()`; it is not React's hook. React rules stop at app/.
    files: ['e2e/**', 'tests/**', 'bench/**', 'server/**', 'scripts/**', 'protocol/**'],
    rules: { 'react-hooks/rules-of-hooks': 'off' },
  },
  {
    // Test matchers (`expect.any(String)`, `expect.objectContaining`) are typed `any` by design so
    // they fit any field of an expected value.
    files: ['tests/**', 'e2e/**'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off' },
  },
  globalIgnores([
    'node_modules/**',
    '.next/**',
    'dist/**',
    'data/**',
    'server/db/generated/**',
    'test-results/**',
    'playwright-report/**',
    'bench-results/**',
    'next-env.d.ts',
  ]),
]);
