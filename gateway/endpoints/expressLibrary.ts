import { createRequire } from 'node:module';
import type express from 'express';

const require = createRequire(import.meta.url);

/**
 * express, required when Portico's own endpoints first need it rather than at start: with what it
 * pulls in it costs ~12 MB of RSS and ~100 ms, and a pure proxy may never answer anything under
 * /_portico/ but health checks, which do without it (ownEndpoints.ts).
 */
export function expressLibrary(): typeof express {
  return require('express') as typeof express;
}
