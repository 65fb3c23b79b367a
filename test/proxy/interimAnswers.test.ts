// Interim (1xx) answers an upstream sends before its final one. Portico never sends `Expect`
// upstream (it answers the client's 100-continue itself), yet some servers send `100 Continue` to
// every request with a body, or to every request; RFC 9110 §15.2 has a client parse 1xx answers it
// did not ask for and lets it ignore them. Portico reads past them to the final answer, on the same
// keep-alive connection, instead of a 502.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';

type Seen = { target: string; body: string; port: number };

/**
 * A keep-alive HTTP/1.1 server written byte by byte: for each request it sends `interim` as soon as
 * the request's head has arrived (before its body is read), then, once the body is in, a 200 that
 * echoes the body. Requests seen are recorded with the client port of their connection.
 */
async function interimServer(t: TestContext, interim: string): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    let head: { target: string; length: number; end: number } | undefined;
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (!head) {
          const end = buf.indexOf('\r\n\r\n');
          if (end === -1) return;
          const text = buf.subarray(0, end).toString('latin1');
          const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(text)?.[1] ?? 0);
          head = { target: text.split(' ')[1]!, length, end: end + 4 };
          socket.write(interim);
        }
        if (buf.length < head.end + head.length) return;
        const body = buf.subarray(head.end, head.end + head.length).toString();
        buf = buf.subarray(head.end + head.length);
        seen.push({ target: head.target, body, port: socket.remotePort! });
        head = undefined;
        const answer = `answer:${body}`;
        socket.write(
          `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${answer.length}\r\n\r\n${answer}`,
        );
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, seen };
}

describe('interim answers from an upstream', () => {
  for (const [name, interim] of [
    ['an unasked 100 Continue', 'HTTP/1.1 100 Continue\r\n\r\n'],
    [
      'a 100 Continue with a header, then 103 Early Hints',
      'HTTP/1.1 100 Continue\r\nServer: x\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n',
    ],
    ['103 Early Hints', 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n'],
  ] as const) {
    it(`reads past ${name} to the final answer, on the same connection`, async (t) => {
      const up = await interimServer(t, interim);
      const gw = await startGateway(t, `routes:\n  - { id: app, path: /, upstream: "${up.url}" }\n`);
      const get = await send(gw.url, '/a?x=1');
      assert.equal(get.status, 200);
      assert.equal(get.text, 'answer:');
      assert.equal(get.rawHeaders.includes('Server'), false, "the 100's headers are not the answer's");
      const post = await send(gw.url, '/b', {
        method: 'POST',
        body: 'hello',
        headers: { 'content-type': 'text/plain' },
      });
      assert.equal(post.status, 200);
      assert.equal(post.text, 'answer:hello');
      // A client that asked for 100-continue still gets its answer.
      const expecting = await send(gw.url, '/c', {
        method: 'PUT',
        body: 'data',
        headers: { 'content-type': 'text/plain', expect: '100-continue' },
      });
      assert.equal(expecting.status, 200);
      assert.equal(expecting.text, 'answer:data');
      assert.deepEqual(
        up.seen.map((s) => [s.target, s.body]),
        [
          ['/a?x=1', ''],
          ['/b', 'hello'],
          ['/c', 'data'],
        ],
      );
      assert.equal(new Set(up.seen.map((s) => s.port)).size, 1, 'one keep-alive connection throughout');
    });
  }
});
