/**
 * The system programs the tests drive (real parts, not mocks), where each is looked for, and
 * the Debian package that provides it. One table for `npm test` (scripts/test.ts installs what
 * is missing when it can) and for the helpers that start the programs: a test that needs a
 * program that is not there fails at once with one line saying what to install, instead of
 * timing out or leaving a half-started fixture behind.
 *
 * Each path can be overridden by its environment variable (CHROMIUM_PATH, NGINX_PATH, …), which
 * is also how the "not installed" path is tested without uninstalling anything.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

export interface SystemDep {
  /** What the tests call it. */
  readonly name: string;
  /** Environment variable that overrides the path. */
  readonly env: string;
  /** An absolute path, or a bare command name looked up on PATH. */
  readonly path: string;
  /** The Debian package that provides it. */
  readonly apt: string;
  /** Which tests need it (for the message). */
  readonly usedBy: string;
}

export const SYSTEM_DEPS = {
  redisServer: {
    name: 'redis-server',
    env: 'REDIS_SERVER_PATH',
    path: 'redis-server',
    apt: 'redis-server',
    usedBy: 'the Redis backend tests',
  },
  redisCli: {
    name: 'redis-cli',
    env: 'REDIS_CLI_PATH',
    path: 'redis-cli',
    apt: 'redis-tools',
    usedBy: 'the Redis Cluster tests',
  },
  openssl: {
    name: 'openssl',
    env: 'OPENSSL_PATH',
    path: 'openssl',
    apt: 'openssl',
    usedBy: 'the TLS and proxy tests',
  },
  chromium: {
    name: 'chromium',
    env: 'CHROMIUM_PATH',
    path: '/usr/bin/chromium',
    apt: 'chromium',
    usedBy: 'the browser tests',
  },
  nginx: {
    name: 'nginx',
    env: 'NGINX_PATH',
    path: '/usr/sbin/nginx',
    apt: 'nginx-light',
    usedBy: 'the reverse-proxy tests',
  },
  turnserver: {
    name: 'turnserver',
    env: 'TURNSERVER_PATH',
    path: '/usr/bin/turnserver',
    apt: 'coturn',
    usedBy: 'the ICE servers (TURN) tests',
  },
} as const satisfies Record<string, SystemDep>;

export type SystemDepName = keyof typeof SYSTEM_DEPS;

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where the program is expected: the env override, else the table's path. */
export function configuredPath(dep: SystemDep): string {
  const override = process.env[dep.env];
  return override !== undefined && override !== '' ? override : dep.path;
}

/** The program's absolute path, or undefined when it is not installed (not executable). */
export function findBinary(dep: SystemDep): string | undefined {
  const file = configuredPath(dep);
  if (file.includes('/')) return executable(file) ? file : undefined;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, file);
    if (executable(candidate)) return candidate;
  }
  return undefined;
}

/** The one line a test fails with when the program is missing. */
export function missingMessage(dep: SystemDep): string {
  return (
    `${dep.name} not found (${configuredPath(dep)}), needed by ${dep.usedBy}: ` +
    `install it with \`apt-get install ${dep.apt}\` (\`npm test\` as root does), ` +
    `or set ${dep.env} to its path`
  );
}

/** The program's path; throws the one-line message at once when it is not installed. */
export function requireBinary(name: SystemDepName): string {
  const dep = SYSTEM_DEPS[name];
  const found = findBinary(dep);
  if (found === undefined) throw new Error(missingMessage(dep));
  return found;
}
