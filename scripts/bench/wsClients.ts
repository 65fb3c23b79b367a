// Opens N idle WebSockets to a URL from its own process (each process has a 20k file limit here)
// and keeps them open until stdin closes. Prints "open <n>" when all are up.
import { WebSocket } from 'ws';

const [url, countArg] = process.argv.slice(2);
const count = Number(countArg);
const sockets: WebSocket[] = [];
let open = 0;
let failed = 0;
const batch = 200;
for (let i = 0; i < count; i += batch) {
  await Promise.all(
    Array.from({ length: Math.min(batch, count - i) }, () => {
      return new Promise<void>((resolve) => {
        const ws = new WebSocket(url!, { perMessageDeflate: false });
        ws.once('open', () => {
          open++;
          resolve();
        });
        ws.once('error', () => {
          failed++;
          resolve();
        });
        sockets.push(ws);
      });
    }),
  );
}
process.stdout.write(`open ${open} failed ${failed}\n`);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
