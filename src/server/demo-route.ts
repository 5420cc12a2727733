/**
 * The browser demo at /demo/ (DEMO=true or --demo; off by default). Serves a fixed list of
 * files from examples/ and nothing else: the request path is only ever compared against this
 * list, never joined to a filesystem path, so no traversal is possible.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const FILES: Record<string, { file: string; type: string }> = {
  '/demo/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/demo/demo.js': { file: 'demo.js', type: 'text/javascript; charset=utf-8' },
  '/demo/demo.css': { file: 'demo.css', type: 'text/css; charset=utf-8' },
  '/demo/switchboard-client.bundle.js': {
    file: 'switchboard-client.bundle.js',
    type: 'text/javascript; charset=utf-8',
  },
};

const HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  // Scripts and styles from this origin only; signaling to any ws(s) server the user enters.
  'content-security-policy':
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; media-src 'self' blob:",
};

/**
 * examples/ of this package: two levels up from src/server (tsx), three from dist/src/server
 * (built). Only these two places, so an unrelated examples/ higher up is never served.
 */
export function findExamplesDir(
  from: string = path.dirname(fileURLToPath(import.meta.url)),
): string | undefined {
  for (const up of ['../..', '../../..']) {
    const candidate = path.resolve(from, up, 'examples');
    if (existsSync(path.join(candidate, 'index.html'))) return candidate;
  }
  return undefined;
}

/** An `extraRoute` for the server (see ServerOptions) serving the demo from `dir`. */
export function createDemoRoute(dir: string) {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const q = req.url?.indexOf('?') ?? -1;
    const urlPath = q === -1 ? (req.url ?? '/') : req.url!.slice(0, q);
    if (urlPath === '/demo') {
      res.writeHead(301, { location: '/demo/', ...HEADERS });
      res.end();
      return true;
    }
    if (!urlPath.startsWith('/demo/')) return false;
    const entry = FILES[urlPath];
    if (!entry) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...HEADERS });
      res.end('Not Found');
      return true;
    }
    readFile(path.join(dir, entry.file)).then(
      (body) => {
        res.writeHead(200, { 'content-type': entry.type, ...HEADERS });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      () => {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', ...HEADERS });
        res.end(`${entry.file} is missing: run "npm run build:client"\n`);
      },
    );
    return true;
  };
}
