// EXPERIMENT: two ways to write an access line per request, both to stdout.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pino } from 'pino';
import type { AccessLog } from './forwardDispatch.ts';

/** (d) The line built as a string, written through one buffered sonic-boom (pino.destination). */
function sonicBoomString(): AccessLog {
  const out = pino.destination({ dest: 1, minLength: 4096, sync: false });
  const prefix = `{"level":30,"service":"portico","pid":${process.pid},"msg":"request","time":`;
  let n = 0;
  const idBase = `${process.pid.toString(36)}-`;
  return (req: IncomingMessage, res: ServerResponse, path: string, startedAt: number) => {
    out.write(
      `${prefix}${Date.now()},"reqId":"${idBase}${(++n).toString(36)}","method":"${req.method}","path":${JSON.stringify(path)},"status":${res.statusCode},"route":"dce5","ms":${(performance.now() - startedAt).toFixed(1)},"remote":"${req.socket.remoteAddress}"}\n`,
    );
  };
}

/** (e) pino.info with a flat object, as gateway/ops/accessLog.ts does today. */
function pinoObject(): AccessLog {
  const logger = pino({ base: { service: 'portico' } });
  let n = 0;
  const idBase = `${process.pid.toString(36)}-`;
  return (req: IncomingMessage, res: ServerResponse, path: string, startedAt: number) => {
    logger.info(
      {
        reqId: `${idBase}${(++n).toString(36)}`,
        method: req.method,
        path,
        status: res.statusCode,
        route: 'dce5',
        ms: Math.round((performance.now() - startedAt) * 10) / 10,
        remote: req.socket.remoteAddress,
      },
      'request',
    );
  };
}

export const accessLine = { sonicBoomString, pinoObject };
