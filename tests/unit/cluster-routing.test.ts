import { describe, expect, it } from 'vitest';
import { isPeerMessage, isPeersMessage, requestHead, sessionWorker, workerSessionId } from '../../server/cluster/routing';

describe('routing a request to the worker that holds its session', () => {
  it('gives out session ids that name their worker, each different', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => workerSessionId(7)));
    expect(ids.size).toBe(1000);
    for (const id of ids) {
      expect(id).toMatch(/^[\w-]{20}w7$/);
      expect(sessionWorker(`/socket.io/?EIO=4&transport=polling&sid=${id}`)).toBe(7);
    }
  });

  it('finds the worker in a polling request and in an upgrade, wherever sid sits in the query', () => {
    const sid = workerSessionId(12);
    expect(sessionWorker(`/socket.io/?EIO=4&transport=polling&t=PxA1&sid=${sid}`)).toBe(12);
    expect(sessionWorker(`/socket.io/?EIO=4&sid=${sid}&transport=websocket`)).toBe(12);
  });

  it('leaves alone what names no worker: a new session, pages, the API, ids of another form', () => {
    expect(sessionWorker('/socket.io/?EIO=4&transport=websocket')).toBeUndefined();
    expect(sessionWorker('/dispatch')).toBeUndefined();
    expect(sessionWorker(undefined)).toBeUndefined();
    // Engine.IO's own ids (a single process) and ids with something after the worker number.
    expect(sessionWorker('/socket.io/?EIO=4&transport=polling&sid=Q3hN-6cgJd4c5yXoAAAB')).toBeUndefined();
    expect(sessionWorker(`/socket.io/?EIO=4&transport=polling&sid=${workerSessionId(3)}x`)).toBeUndefined();
    expect(sessionWorker(`/socket.io/?EIO=4&xsid=${workerSessionId(3)}`)).toBeUndefined();
  });

  it('rebuilds a request head as it came, headers in their order and case', () => {
    const head = requestHead({ method: 'GET', url: '/socket.io/?EIO=4&transport=websocket&sid=x', httpVersion: '1.1', rawHeaders: ['Host', 'a:1', 'Upgrade', 'websocket', 'Sec-WebSocket-Key', 'k=='] });
    expect(head).toBe('GET /socket.io/?EIO=4&transport=websocket&sid=x HTTP/1.1\r\nHost: a:1\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k==\r\n\r\n');
  });

  it('accepts only well-formed messages from other processes', () => {
    expect(isPeerMessage({ type: 'dd:ready' })).toBe(false);
    expect(isPeerMessage(null)).toBe(false);
    expect(isPeerMessage({ type: 'dd:peer', port: 41000 })).toBe(true);
    expect(isPeerMessage({ type: 'dd:peer', port: '41000' })).toBe(false);
    expect(isPeersMessage({ type: 'dd:peers', peers: [[1, 41000], [2, 41001]] })).toBe(true);
    expect(isPeersMessage({ type: 'dd:peers', peers: [[1]] })).toBe(false);
    expect(isPeersMessage({ type: 'dd:peers', peers: {} })).toBe(false);
  });
});
