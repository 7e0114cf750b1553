import { readFileSync } from 'node:fs';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));

/** @type {import('next').NextConfig} */
const nextConfig = {
  // Sent by the pages with their presence heartbeat (shown on /monitor and the rider list).
  env: { NEXT_PUBLIC_APP_VERSION: version },
  reactStrictMode: true,
  poweredByHeader: false,
  // The custom server (server/index.ts) owns the HTTP port; Next renders pages only.
  serverExternalPackages: ['@electric-sql/pglite', '@electric-sql/pglite-socket', 'pg', 'pino'],
};

export default nextConfig;
