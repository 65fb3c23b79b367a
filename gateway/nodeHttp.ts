/**
 * node:http's values for the gateway's modules (types still come from `import type … 'node:http'`).
 * An ES `import { … } from 'node:http'` makes Node build the module's ES facade, which reads every
 * export, and node:http's lazy WebSocket, CloseEvent and MessageEvent getters then load Node's
 * bundled undici: measured here, +14 MB of RSS and ~150 ms of start for a class the gateway never
 * uses (it forwards with the undici package). process.getBuiltinModule hands over the module as is.
 */
const http = process.getBuiltinModule('node:http');

export const { createServer, request, STATUS_CODES, IncomingMessage, ServerResponse } = http;
