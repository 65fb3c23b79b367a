// WebSocket echo throughput: 16 connections with 8 messages each in flight, counted for N seconds.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';

export async function wsEcho(url: string, size: number, seconds = 3): Promise<number> {
  const payload = randomBytes(size);
  let count = 0;
  let stop = false;
  const sockets = await Promise.all(
    Array.from({ length: 16 }, async () => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      await once(ws, 'open');
      ws.on('message', () => {
        count++;
        if (!stop) ws.send(payload);
      });
      return ws;
    }),
  );
  for (const ws of sockets) for (let i = 0; i < 8; i++) ws.send(payload);
  await sleep(500);
  const start = count;
  await sleep(seconds * 1000);
  const done = count - start;
  stop = true;
  for (const ws of sockets) ws.terminate();
  return done / seconds;
}
