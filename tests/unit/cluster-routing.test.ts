import { describe, expect, it } from 'vitest';
import { isRouteMessage, sessionWorker, workerSessionId } from '../../server/cluster/routing';

const request = (target: string) => Buffer.from(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`, 'latin1');

describe('routing a connection to the worker that holds its session', () => {
  it('gives out session ids that name their worker, each different', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => workerSessionId(7)));
    expect(ids.size).toBe(1000);
    for (const id of ids) {
      expect(id).toMatch(/^[\w-]{20}w7$/);
      expect(sessionWorker(request(`/socket.io/?EIO=4&transport=polling&sid=${id}`))).toBe(7);
    }
  });

  it('finds the worker in a polling request and in an upgrade, wherever sid sits in the query', () => {
    const sid = workerSessionId(12);
    expect(sessionWorker(request(`/socket.io/?EIO=4&transport=polling&t=PxA1&sid=${sid}`))).toBe(12);
    expect(sessionWorker(request(`/socket.io/?EIO=4&sid=${sid}&transport=websocket`))).toBe(12);
    expect(sessionWorker(Buffer.from(`POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\ncontent-length: 3\r\n\r\n40/`))).toBe(12);
  });

  it('leaves alone what names no worker: a new session, pages, the API, ids of another form', () => {
    expect(sessionWorker(request('/socket.io/?EIO=4&transport=websocket'))).toBeUndefined();
    expect(sessionWorker(request('/dispatch'))).toBeUndefined();
    expect(sessionWorker(request('/api/health'))).toBeUndefined();
    // Engine.IO's own ids (a single process) and ids with something after the worker number.
    expect(sessionWorker(request('/socket.io/?EIO=4&transport=polling&sid=Q3hN-6cgJd4c5yXoAAAB'))).toBeUndefined();
    expect(sessionWorker(request(`/socket.io/?EIO=4&transport=polling&sid=${workerSessionId(3)}x`))).toBeUndefined();
    // Only the request line counts: a header or a body that looks like a query does not.
    expect(sessionWorker(Buffer.from(`GET / HTTP/1.1\r\nReferer: /?sid=${workerSessionId(4)}\r\n\r\n`))).toBeUndefined();
    // A first chunk that ends inside the request line is still read up to where it ends.
    expect(sessionWorker(Buffer.from(`GET /socket.io/?EIO=4&sid=${workerSessionId(5)}`))).toBe(5);
    expect(sessionWorker(Buffer.alloc(0))).toBeUndefined();
  });

  it('accepts only well-formed route messages from other processes', () => {
    expect(isRouteMessage({ type: 'dd:route', to: 2, data: new Uint8Array(3) })).toBe(true);
    expect(isRouteMessage({ type: 'dd:route', to: '2', data: new Uint8Array(3) })).toBe(false);
    expect(isRouteMessage({ type: 'dd:route', to: 2, data: 'GET /' })).toBe(false);
    expect(isRouteMessage({ type: 'dd:ready' })).toBe(false);
    expect(isRouteMessage(null)).toBe(false);
  });
});
