// The benchmark upstream, in its own process: ~250-byte and 16 KB answers, and a WebSocket echo.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

const small = Buffer.from(
  JSON.stringify({ ok: true, service: 'bench-upstream', pad: 'x'.repeat(200) }).slice(0, 250),
);
const big = Buffer.alloc(16 * 1024, 'a');

const server = createServer((req, res) => {
  const body = req.url?.startsWith('/big') ? big : small;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});
