import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { httpFetch, retryOnStaleSocket, type StaleSocket } from '../../functions/adapters/http-fetch';

// posthog-node's fetch over node:http, against a loopback server that sees every connection.
describe('httpFetch (posthog-node over node:http)', () => {
  let server: Server;
  let url: string;
  let handler: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;
  const sockets = new Set<Socket>();
  let requests = 0;

  before(async () => {
    server = createServer((req, res) => {
      requests++;
      const parts: Buffer[] = [];
      req.on('data', (b: Buffer) => parts.push(b));
      req.on('end', () => handler(req, Buffer.concat(parts), res));
    });
    server.on('connection', (s: Socket) => sockets.add(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  // Closes the server's side of every connection and lets the client's pool see it.
  const fresh = async () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
    requests = 0;
    await new Promise((r) => setTimeout(r, 20));
  };

  test('posts a string, bytes or a Blob with its length and headers; status, headers and body come back', async () => {
    await fresh();
    const seen: Array<[string, string | undefined, string | undefined, string]> = [];
    handler = (req, body, res) => {
      seen.push([req.method!, req.headers['content-length'], req.headers['content-encoding'], body.toString()]);
      res.writeHead(429, { 'retry-after': '2', 'content-type': 'application/json' }).end('{"error":"slow down"}');
    };
    const bodies = ['{"a":1}', new TextEncoder().encode('{"b":22}'), new Blob(['{"c":333}'])];
    for (const body of bodies) {
      const res = await httpFetch(`${url}/batch/`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, body });
      assert.equal(res.status, 429);
      assert.equal(res.headers.get('Retry-After'), '2');
      assert.equal(res.headers.get('x-missing'), null);
      assert.equal(await res.text(), '{"error":"slow down"}');
      assert.deepEqual(await res.json(), { error: 'slow down' }, 'the body can be read again');
    }
    assert.deepEqual(seen, [
      ['POST', '7', 'gzip', '{"a":1}'],
      ['POST', '8', 'gzip', '{"b":22}'],
      ['POST', '9', 'gzip', '{"c":333}'],
    ]);
    assert.equal(sockets.size, 1, 'one kept-alive connection for all three');
  });

  test("an abort (posthog-node's request timeout) ends the request with the signal's reason", async () => {
    await fresh();
    let held: ServerResponse | undefined;
    let closed = false;
    handler = (_req, _body, res) => {
      held = res; // never answers
      res.on('close', () => (closed = true));
    };
    const ctrl = new AbortController();
    const timeout = Object.assign(new Error('Request timed out after 50ms'), { name: 'AbortError' });
    setTimeout(() => ctrl.abort(timeout), 50);
    await assert.rejects(httpFetch(`${url}/batch/`, { method: 'POST', body: 'x', signal: ctrl.signal }), (err) => err === timeout);
    assert.ok(held, 'the request had reached the server');
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(closed && held!.socket?.destroyed !== false, 'the connection was closed, not left hanging');
    await assert.rejects(httpFetch(`${url}/batch/`, { signal: ctrl.signal }), (err) => err === timeout, 'an already aborted signal sends nothing');
    assert.equal(requests, 1);
  });

  test('a kept-alive connection the server had dropped: the failure says so, and the wrapper sends it once more on a new connection', async () => {
    await fresh();
    let n = 0;
    handler = (req, _body, res) => {
      n++;
      // Every second request arrives on the reused socket: hang up on it unanswered, as a server
      // whose idle timeout closed the connection as the request was being sent.
      if (n % 2 === 0) return req.socket.destroy();
      res.end('{"status":1}');
    };
    assert.equal((await httpFetch(`${url}/batch/`, { method: 'POST', body: 'one' })).status, 200);
    await assert.rejects(httpFetch(`${url}/batch/`, { method: 'POST', body: 'two' }), (err: StaleSocket) => err.staleSocket === true);
    assert.equal(n, 2, 'httpFetch itself does not send again');

    await fresh();
    n = 0;
    const attempts: string[] = [];
    const counted = async (u: string, init: Parameters<typeof httpFetch>[1]) => {
      attempts.push(u); // stands for the rate budget's payment and the attempt count
      return httpFetch(u, init);
    };
    const fetch = retryOnStaleSocket(counted);
    assert.equal((await fetch(`${url}/batch/`, { method: 'POST', body: 'one' })).status, 200);
    assert.equal((await fetch(`${url}/batch/`, { method: 'POST', body: 'two' })).status, 200);
    assert.equal(n, 3, 'the hung-up request was sent again');
    assert.equal(sockets.size, 2, 'on a new connection');
    assert.equal(attempts.length, 3, 'through the inner fetch, so the second sending is paid and counted');
  });

  test('a 307/308 to another path is followed with the same method and body; other redirects come back as they are', async () => {
    await fresh();
    const seen: string[] = [];
    handler = (req, body, res) => {
      seen.push(`${req.method} ${req.url} ${body.toString()}`);
      if (req.url === '/batch/') return res.writeHead(308, { location: '/moved/batch/' }).end();
      if (req.url === '/loop/') return res.writeHead(307, { location: '/loop/' }).end();
      if (req.url === '/old/') return res.writeHead(301, { location: '/batch/' }).end();
      res.end('{"status":1}');
    };
    const res = await httpFetch(`${url}/batch/`, { method: 'POST', body: 'payload' });
    assert.equal(res.status, 200);
    assert.deepEqual(seen, ['POST /batch/ payload', 'POST /moved/batch/ payload']);
    assert.equal((await httpFetch(`${url}/loop/`, { method: 'POST', body: 'x' })).status, 307, 'a loop ends');
    assert.equal(seen.filter((s) => s.startsWith('POST /loop/')).length, 6, 'the first request and five redirects');
    assert.equal((await httpFetch(`${url}/old/`, { method: 'POST', body: 'x' })).status, 301, 'a 301 would turn a POST into a GET: left to the caller');
  });

  test('a reset on a new connection, or an answer cut off, is an error for posthog-node to retry', async () => {
    await fresh();
    handler = (req) => req.socket.destroy();
    await assert.rejects(httpFetch(`${url}/batch/`, { method: 'POST', body: 'x' }), /socket hang up|ECONNRESET/);
    assert.equal(requests, 1, 'not sent again: the connection was not a reused one');

    await fresh();
    handler = (_req, _body, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('{"status"');
      setTimeout(() => res.socket?.destroy(), 10);
    };
    await assert.rejects(httpFetch(`${url}/batch/`, { method: 'POST', body: 'x' }), /closed before the answer ended|aborted|ECONNRESET/);
  });
});
