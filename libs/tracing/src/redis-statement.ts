/**
 * What a Redis client span records of its command (`db.query.text`): the command, and its keys, never its other
 * arguments. Our Lua steps are given a tenant's labels, params and graphs as arguments (and BullMQ's the attempt
 * payload), and spans go to a shared trace backend: the instrumentation's default serializer records every
 * argument of EVAL/EVALSHA whole. Keys (tenant and job ids) are what tells one step from another.
 */
export function redisStatement(command: string, args: ReadonlyArray<unknown>): string {
  const name = command.toLowerCase();
  const shown: string[] = [];
  let rest = args.length;
  if (CREDENTIALS.has(name)) {
    // their arguments are credentials (AUTH <password>, as ioredis sends for redis://:<password>@host)
  } else if (name === 'eval' || name === 'evalsha' || name === 'fcall' || name === 'fcall_ro') {
    const keys = Number(args[1]);
    const keyCount = Number.isInteger(keys) && keys >= 0 ? Math.min(keys, args.length - 2) : 0;
    // EVAL's script text is ours, but long: its sha says which one it is as well
    shown.push(name === 'eval' ? '[script]' : cut(args[0]), String(keyCount));
    for (let i = 0; i < keyCount; i++) shown.push(cut(args[2 + i]));
    rest = Math.max(0, args.length - 2 - keyCount);
  } else if (args.length > 0) {
    shown.push(cut(args[0]));
    rest = args.length - 1;
  }
  if (rest > 0) shown.push(`[${rest} other arguments]`);
  return [command, ...shown].join(' ');
}

/** Commands whose arguments carry credentials: none of them is recorded. */
const CREDENTIALS = new Set(['auth', 'hello', 'migrate']);

const MAX_SHOWN = 128;

function cut(arg: unknown): string {
  const text = Buffer.isBuffer(arg) ? `[${arg.length} bytes]` : String(arg);
  return text.length <= MAX_SHOWN ? text : `${text.slice(0, MAX_SHOWN)}…`;
}
