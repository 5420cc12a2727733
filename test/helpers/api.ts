/**
 * A raw HTTP client for the server API: node:http, so a path is sent exactly as written (fetch
 * would resolve `..` and re-encode), with the body as given, and the answer parsed when JSON.
 */
import http from 'node:http';

export const API_KEY = 'test-api-key-0123456789abcdef';
export const OTHER_API_KEY = 'rotated-api-key-fedcba9876543210';

export interface ApiResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON, or the raw text when not JSON, or undefined when empty. */
  body: unknown;
  text: string;
}

export interface ApiRequestOptions {
  /** Bearer key; null sends no Authorization header. Default API_KEY. */
  key?: string | null;
  /** A JSON value (serialized) or a string/Buffer sent as is. */
  body?: unknown;
  headers?: Record<string, string>;
}

export function api(
  port: number,
  method: string,
  path: string,
  opts: ApiRequestOptions = {},
): Promise<ApiResponse> {
  const key = opts.key === undefined ? API_KEY : opts.key;
  const payload =
    opts.body === undefined
      ? undefined
      : typeof opts.body === 'string' || Buffer.isBuffer(opts.body)
        ? opts.body
        : JSON.stringify(opts.body);
  const headers: Record<string, string> = {};
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (payload !== undefined) headers['content-type'] = 'application/json';
  Object.assign(headers, opts.headers);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = undefined;
          if (text.length > 0) {
            try {
              body = JSON.parse(text);
            } catch {
              body = text;
            }
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('api request timed out')));
    req.end(payload);
  });
}

/** The `error.code` of an error answer. */
export function errorCode(res: ApiResponse): string | undefined {
  return (res.body as { error?: { code?: string } } | undefined)?.error?.code;
}
