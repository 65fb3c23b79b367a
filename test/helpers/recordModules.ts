// Loaded with `node --import` into a process under test: when the process exits it writes, as
// JSON to $PORTICO_LOADED_MODULES, every module file it loaded (ES and CommonJS, seen through
// node:module's hooks) and Node's own internal modules (process.moduleLoadList).
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const files: string[] = [];
registerHooks({
  load(url, context, nextLoad) {
    files.push(url);
    return nextLoad(url, context);
  },
});
process.on('exit', () => {
  const out = process.env.PORTICO_LOADED_MODULES;
  if (out)
    writeFileSync(
      out,
      JSON.stringify({ files, internal: (process as { moduleLoadList?: string[] }).moduleLoadList ?? [] }),
    );
});
