/**
 * The `next` path to follow after sign-in, or null when it would leave this site. Browsers read
 * `\` as `/` and drop tabs and newlines in URLs, so `/\evil.example` or `/\t/evil.example` are
 * really `//evil.example`: resolve the value against this origin and keep it only if it stays here.
 */
export function safeNextPath(next: string | null, origin: string): string | null {
  if (!next || !next.startsWith('/')) return null;
  let target: URL;
  try {
    target = new URL(next, origin);
  } catch {
    return null;
  }
  return target.origin === new URL(origin).origin ? target.pathname + target.search + target.hash : null;
}
