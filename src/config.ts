/**
 * Loading the configuration (SPEC.md §11): env vars, then CLI flags (flags win), each raw value
 * parsed by its setting's kind, then the cross-setting rules, once at start. A bad value throws a
 * ConfigError naming the setting, the value and what is expected. Also renders the settings
 * table as --help and as the README's configuration table (test/config.test.ts keeps the README
 * equal to it).
 *
 * By role: the Config type and its defaults are in config-defaults.ts, the table of settings
 * (env var, flag, kind, doc) in config-settings.ts, the rules between settings in
 * config-validate.ts. What the rest of the code uses of them is exported from here.
 */
import { ConfigError } from './errors.js';
import { type Config, DEFAULTS } from './config-defaults.js';
import { type Kind, type Setting, SETTINGS, flagName } from './config-settings.js';
import { isSendableCloseCode, validate } from './config-validate.js';

export { type Config, DEFAULTS } from './config-defaults.js';
export { SETTINGS, flagName } from './config-settings.js';
export { isSendableCloseCode } from './config-validate.js';

function describe(kind: Kind): string {
  switch (kind.type) {
    case 'int':
      return kind.max === Number.MAX_SAFE_INTEGER
        ? `an integer >= ${kind.min}`
        : `an integer from ${kind.min} to ${kind.max}`;
    case 'closeCode':
      return 'a close code a server may send: 1000-1003, 1007-1014 or 3000-4999';
    case 'bool':
      return 'true or false';
    case 'string':
      return 'a non-empty string';
    case 'list':
      return 'a comma-separated list';
    case 'enum':
      return `one of ${kind.values.join(', ')}`;
    case 'url':
      return `a URL with scheme ${kind.schemes.map((s) => s + '//').join(' or ')}`;
  }
}

function parseValue(setting: Setting, raw: string): unknown {
  const { kind, env } = setting;
  const fail = (): never => {
    throw new ConfigError(env, raw, describe(kind));
  };
  switch (kind.type) {
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) fail();
      const n = Number(raw.trim());
      if (!Number.isSafeInteger(n) || n < kind.min || n > kind.max) fail();
      return n;
    }
    case 'closeCode': {
      const n = Number(raw.trim());
      if (!/^\d+$/.test(raw.trim()) || !isSendableCloseCode(n)) fail();
      return n;
    }
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (v === 'true' || v === '1' || v === 'yes') return true;
      if (v === 'false' || v === '0' || v === 'no') return false;
      return fail();
    }
    case 'string':
      if (kind.nonEmpty && raw.length === 0) fail();
      return raw;
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    case 'enum':
      if (!kind.values.includes(raw)) fail();
      return raw;
    case 'url': {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        return fail();
      }
      if (!kind.schemes.includes(url.protocol)) fail();
      return raw;
    }
  }
}

export interface LoadResult {
  config: Config;
  help: boolean;
  /** Non-fatal remarks to log at start (e.g. a short JWT secret). */
  warnings: string[];
}

/**
 * Build the Config from env vars, then CLI flags (flags win). Throws ConfigError on the first
 * bad value, unknown flag, or inconsistent combination.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env,
  argv: readonly string[] = [],
): LoadResult {
  const config: Config = {
    ...DEFAULTS,
    redisClusterNodes: [],
    jwtAlg: [],
    allowedOrigins: [],
    stunUrls: [],
    turnUrls: [],
    apiKeys: [],
    webhookUrls: [],
  };
  const target = config as unknown as Record<string, unknown>;
  for (const setting of SETTINGS) {
    for (const name of [setting.env, ...(setting.aliases ?? [])]) {
      const raw = env[name];
      if (raw !== undefined && raw !== '') {
        target[setting.key] = parseValue(setting, raw);
        break;
      }
    }
  }
  const byFlag = new Map(SETTINGS.map((s) => [flagName(s.env), s]));
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const setting = byFlag.get(name);
    if (!setting) throw new ConfigError('command line', arg, `one of the flags listed by --help`);
    let raw: string;
    if (eq !== -1) raw = arg.slice(eq + 1);
    else if (
      setting.kind.type === 'bool' &&
      (argv[i + 1] === undefined || argv[i + 1]!.startsWith('--'))
    )
      raw = 'true';
    else if (argv[i + 1] !== undefined) raw = argv[++i]!;
    else throw new ConfigError(setting.env, '', `a value after ${name}`);
    target[setting.key] = parseValue(setting, raw);
  }
  return { config, help, warnings: validate(config) };
}

export function helpText(): string {
  const lines = ['Usage: switchboard [flags]', '', 'Every flag also reads from its env var.', ''];
  for (const s of SETTINGS) {
    const def = (DEFAULTS as unknown as Record<string, unknown>)[s.key];
    const shown =
      def === undefined || (Array.isArray(def) && def.length === 0)
        ? ''
        : ` (default ${String(def)})`;
    lines.push(`  ${flagName(s.env).padEnd(40)} ${s.env}${shown}`);
    lines.push(`  ${''.padEnd(40)} ${s.doc}`);
  }
  return lines.join('\n');
}

/** The README's configuration table, generated from SETTINGS (test/config.test.ts keeps them equal). */
export function configTableMarkdown(): string {
  const rows = ['| env var | CLI flag | default | meaning |', '|---|---|---|---|'];
  for (const s of SETTINGS) {
    const def = (DEFAULTS as unknown as Record<string, unknown>)[s.key];
    const shown =
      def === undefined || (Array.isArray(def) && def.length === 0)
        ? 'unset'
        : def === ''
          ? 'empty'
          : `\`${String(def)}\``;
    const names = [s.env, ...(s.aliases ?? [])].join(' (or ') + (s.aliases?.length ? ')' : '');
    rows.push(`| ${names} | \`${flagName(s.env)}\` | ${shown} | ${s.doc.replaceAll('|', '\\|')} |`);
  }
  return rows.join('\n');
}
