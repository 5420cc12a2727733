/**
 * Reading and writing the server API's JSON (SPEC.md §14). A request body is read only up to
 * its cap: a declared Content-Length over the cap is refused before a byte is read, a streamed
 * body is cut off at the cap, and either way the connection is closed after the answer so the
 * rest is never read into memory.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, ApiErrors, errorBody, type ApiErrorEntry } from './errors.js';

/**
 * A body left unread (a GET or DELETE that carried one, an answer given before reading) would
 * otherwise be read and discarded by Node to keep the connection alive: close it instead.
 */
function closeIfUnread(req: IncomingMessage, res: ServerResponse): void {
  if (!req.complete) res.shouldKeepAlive = false;
}

export function sendJson(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: unknown,
): void {
  closeIfUnread(req, res);
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

export function sendEmpty(req: IncomingMessage, res: ServerResponse, status: number): void {
  closeIfUnread(req, res);
  res.writeHead(status, { 'cache-control': 'no-store' });
  res.end();
}

export function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  entry: ApiErrorEntry,
  headers: Record<string, string> = {},
): void {
  closeIfUnread(req, res);
  const text = errorBody(entry);
  res.writeHead(entry.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** The request's JSON body, parsed; ApiError on a wrong type, a body over `maxBytes`, bad JSON. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) throw new ApiError(ApiErrors.unsupportedMediaType);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes)
    throw new ApiError(ApiErrors.bodyTooLarge);
  const text = await readCapped(req, maxBytes);
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(ApiErrors.invalidJson);
  }
}

function readCapped(req: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (entry: ApiErrorEntry) => {
      cleanup();
      req.pause();
      reject(new ApiError(entry));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) return fail(ApiErrors.bodyTooLarge);
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      const body = Buffer.concat(chunks);
      // Invalid UTF-8 would be replaced silently by toString(); it is not JSON text either.
      if (!isUtf8(body)) return reject(new ApiError(ApiErrors.invalidJson));
      resolve(body.toString('utf8'));
    };
    // A client gone mid-body (error, or a close before the end) settles the read too: nothing
    // is left waiting, holding what was read so far.
    const onError = () => fail(ApiErrors.invalidJson);
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onError);
  });
}
