import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

const NO_RAW_HEADERS: string[] = [];

/**
 * Empty a connection's request of what no handshake reads, once the connection is open.
 *
 * The request that opened a connection lives as long as the connection: Engine.IO keeps it for
 * Socket.IO to build each namespace's handshake from, and its upgrade response holds it until the
 * TCP socket closes. Its headers, twice (parsed and raw), and its URL were about 700 bytes of an
 * idle connection. Namespaces can be joined at any time on one connection, so what their
 * handshakes need stays: the cookie (a browser's session), the origin (`handshake.xdomain`), the
 * parsed query and the socket (TLS or not). The client's address was read before (Engine.IO keeps
 * it as `remoteAddress`); `handshake.url` is left undefined.
 */
export function keepWhatHandshakesRead(req: IncomingMessage): void {
  const headers: IncomingHttpHeaders = {};
  if (req.headers.cookie !== undefined) headers.cookie = req.headers.cookie;
  if (req.headers.origin !== undefined) headers.origin = req.headers.origin;
  req.headers = headers;
  req.rawHeaders = NO_RAW_HEADERS;
  req.url = undefined;
}
