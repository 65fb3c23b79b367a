// The ceiling of forward-auth on this machine: an authentication server in Node that does nothing
// but answer every check 200 with a fixed set of headers (the ones Portico answered for the bench
// session, read once by the bench and passed in as JSON). nginx + this server costs what any Node
// check server costs here — a node:http request and answer per request nginx serves, on the same
// cores as nginx, wrk and the upstream — so the bench can say how far Portico's own work is from
// what no Node check can go below. Not a product: it authenticates nobody.
// Usage: node noopAuthCheck.ts PORT|SOCKET_PATH HEADERS_JSON
import { rmSync } from 'node:fs';
import { createServer } from 'node:http';

const [port, headersJson] = process.argv.slice(2);
const headers = JSON.parse(headersJson!) as Record<string, string>;
const server = createServer((_req, res) => {
  res.writeHead(200, headers);
  res.end();
});
server.keepAliveTimeout = 65_000;
if (/^\d+$/.test(port!)) server.listen(Number(port), '127.0.0.1');
else {
  // A Unix socket (nginx `server unix:…`): the same answer without TCP on loopback.
  rmSync(port!, { force: true });
  server.listen(port, () => process.stdout.write('listening\n'));
}
