/**
 * `npm test`: make sure the system programs the tests drive are installed, run the checks
 * (typecheck, lint, format), run the whole suite, and print how long it took.
 *
 * A program that is missing (test/helpers/system-deps.ts lists them) is installed with apt-get
 * when this runs as root on a machine that has apt-get (a fresh CI box or container): one
 * `apt-get update`, then one `apt-get install` of the missing packages. Otherwise it stops
 * within seconds with one line naming what to install. SWITCHBOARD_TEST_INSTALL=0 turns the
 * install off; `--dry-run` prints what would be installed and run, and changes nothing.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { SYSTEM_DEPS, findBinary, type SystemDep } from '../test/helpers/system-deps.js';

/** apt-get is bounded too: a mirror that hangs must not hang `npm test`. */
const APT_TIMEOUT_MS = 15 * 60_000;

const dryRun = process.argv.includes('--dry-run');
const started = performance.now();
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): number {
  if (dryRun) {
    console.log(`[dry-run] ${cmd} ${args.join(' ')}`);
    return 0;
  }
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.error) {
    console.error(`npm test: ${cmd} failed: ${r.error.message}`);
    return 1;
  }
  return r.status ?? 1;
}

function missingDeps(): SystemDep[] {
  return Object.values(SYSTEM_DEPS).filter((dep) => findBinary(dep) === undefined);
}

function canInstall(): boolean {
  if (process.env.SWITCHBOARD_TEST_INSTALL === '0') return false;
  if (process.getuid?.() !== 0) return false;
  return spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
}

function ensureSystemDeps(): boolean {
  let missing = missingDeps();
  if (missing.length === 0) return true;
  const packages = [...new Set(missing.map((d) => d.apt))];
  if (canInstall()) {
    console.log(
      `npm test: installing ${packages.join(' ')} (${missing.map((d) => d.name).join(', ')} not found)`,
    );
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const ok =
      run('apt-get', ['update', '-qq'], { env, timeout: APT_TIMEOUT_MS }) === 0 &&
      run('apt-get', ['install', '-y', '-qq', ...packages], {
        env,
        timeout: APT_TIMEOUT_MS,
      }) === 0;
    if (dryRun) return true;
    missing = missingDeps();
    if (ok && missing.length === 0) return true;
  }
  const what = missing.map((d) => `${d.name} (${d.env})`).join(', ');
  const pkgs = [...new Set(missing.map((d) => d.apt))].join(' ');
  console.error(
    `npm test: not installed: ${what}; run \`apt-get install ${pkgs}\`, or \`npm test\` as root to have it installed`,
  );
  return false;
}

function main(): number {
  if (!ensureSystemDeps()) return 1;
  const checkStart = performance.now();
  if (run('npm', ['run', '--silent', 'check']) !== 0) {
    console.error(`npm test: checks failed after ${seconds(performance.now() - started)}`);
    return 1;
  }
  const checkMs = performance.now() - checkStart;
  const testStart = performance.now();
  const status = run('npm', ['run', '--silent', 'test:only']);
  const testMs = performance.now() - testStart;
  if (dryRun) return status;
  console.log(
    `npm test: ${status === 0 ? 'passed' : 'FAILED'} in ${seconds(performance.now() - started)} ` +
      `(checks ${seconds(checkMs)}, suite ${seconds(testMs)})`,
  );
  return status;
}

process.exitCode = main();
