import { parseArgs } from 'node:util';
import { ADMIN_SCOPES } from '../config/adminSchema.ts';
import { newApiKey } from '../auth/apiKeys.ts';

export function hashKeyCommand(args: string[]): number {
  const { values } = parseArgs({
    args,
    options: {
      id: { type: 'string', default: 'ci' },
      scopes: { type: 'string', default: 'config:read,config:write' },
    },
  });
  const id = values.id!;
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(id)) {
    process.stderr.write('--id must be lower-case letters, digits and dashes\n');
    return 1;
  }
  const scopes = values
    .scopes!.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = scopes.filter((s) => !(ADMIN_SCOPES as readonly string[]).includes(s));
  if (scopes.length === 0 || unknown.length > 0) {
    process.stderr.write(`--scopes takes a comma-separated list of ${ADMIN_SCOPES.join(', ')}\n`);
    return 1;
  }
  const { key, hash } = newApiKey(id);
  process.stdout.write(
    `API key (give it to the client, it is shown once):\n  ${key}\n\nFor routes.yaml:\n  admin:\n    apiKeys:\n      - { id: ${id}, hash: "${hash}", scopes: [${scopes.join(', ')}] }\n`,
  );
  return 0;
}
