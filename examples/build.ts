/**
 * Builds the browser bundle of the client SDK: examples/switchboard-client.bundle.js, an IIFE
 * exposing the SDK as the global `Switchboard`. Used by `npm run build:client`, the demo and
 * the browser tests (which call buildClientBundle()).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
export const BUNDLE_PATH = path.join(here, 'switchboard-client.bundle.js');

export async function buildClientBundle(): Promise<string> {
  await build({
    entryPoints: [path.join(here, '..', 'client', 'index.ts')],
    bundle: true,
    format: 'iife',
    globalName: 'Switchboard',
    platform: 'browser',
    target: ['es2020'],
    sourcemap: 'inline',
    outfile: BUNDLE_PATH,
    logLevel: 'warning',
  });
  return BUNDLE_PATH;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildClientBundle().then(
    (file) => process.stdout.write(`built ${path.relative(process.cwd(), file)}\n`),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
