import { parseArgs } from 'node:util';
import { newApiKey } from './apiKeys.ts';

export function hashKeyCommand(args: string[]): number {
  const { values } = parseArgs({ args, options: { id: { type: 'string', default: 'ci' } } });
  const id = values.id!;
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(id)) {
    process.stderr.write('--id must be lower-case letters, digits and dashes\n');
    return 1;
  }
  const { key, hash } = newApiKey(id);
  process.stdout.write(
    `API key (give it to the client, it is shown once):\n  ${key}\n\nFor routes.yaml:\n  admin:\n    apiKeys:\n      - { id: ${id}, hash: "${hash}", scopes: [config:read, config:write] }\n`,
  );
  return 0;
}
