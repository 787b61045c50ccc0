/**
 * Runs a program that cannot watch a lifeline itself (redis-server) and ends it when the launcher dies:
 *
 *   node lifeline-guard.js <program> [args…]
 *
 * stdout/stderr pass through; SIGTERM/SIGINT are forwarded; on the lifeline's end the program gets SIGTERM
 * (Redis flushes its AOF) and SIGKILL after GUARD_KILL_AFTER_MS. Exits as the program did.
 */
import { spawn } from 'node:child_process';
import { watchLifeline } from './lifeline.js';

const KILL_AFTER_MS = 10_000;

const [program, ...args] = process.argv.slice(2);
if (!program) {
  process.stderr.write('usage: lifeline-guard <program> [args…]\n');
  process.exit(64);
}
const child = spawn(program, args, { stdio: 'inherit' });
const stopChild = (signal: NodeJS.Signals) => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS).unref();
};
process.on('SIGTERM', () => stopChild('SIGTERM'));
process.on('SIGINT', () => stopChild('SIGTERM'));
watchLifeline(() => stopChild('SIGTERM'));
child.once('error', (e) => {
  process.stderr.write(`lifeline-guard: cannot start ${program}: ${e.message}\n`);
  process.exit(127);
});
child.once('exit', (code, signal) => process.exit(code ?? (signal === 'SIGKILL' ? 137 : 143)));
