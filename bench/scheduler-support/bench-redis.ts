import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort, spawnRedisServer, waitForPort } from '#libs/local-stack';

export interface RedisSnapshot {
  /** `used_memory`: bytes the allocator holds for data, streams, scripts and clients. */
  usedMemory: number;
  /** `total_commands_processed`: commands run, those a Lua script calls included. */
  commands: number;
  /** Bytes read from and written to clients. */
  netBytes: number;
  /** CPU time redis-server has used (user + system), ms. */
  cpuMs: number;
}

/** The benchmark's own redis-server (loopback, free port, AOF as in production), and its memory readings. */
export class BenchRedis {
  private constructor(
    readonly url: string,
    readonly version: string,
    private readonly proc: ChildProcess,
    private readonly dir: string,
    private readonly admin: Redis,
  ) {}

  static async start(): Promise<BenchRedis> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-redis-'));
    const proc = spawnRedisServer({ port, dir });
    // a benchmark that exits early (error, signal → process.exit) must not leave redis-server or its files behind
    const cleanUpOnExit = () => {
      proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    };
    process.once('exit', cleanUpOnExit);
    proc.once('exit', () => process.off('exit', cleanUpOnExit));
    try {
      await waitForPort(port);
      const url = `redis://127.0.0.1:${port}`;
      const admin = new Redis(url, { maxRetriesPerRequest: 3 });
      const version = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? 'unknown';
      return new BenchRedis(url, version, proc, dir, admin);
    } catch (e) {
      proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Counters that explain a variant's cost, read from INFO (memory + stats) in one round trip. */
  async snapshot(): Promise<RedisSnapshot> {
    const info = await this.admin.info('everything');
    const field = (name: string) => {
      const m = new RegExp(`^${name}:(\\d+(?:\\.\\d+)?)`, 'm').exec(info);
      if (!m) throw new Error(`INFO has no ${name}`);
      return Number(m[1]);
    };
    return {
      usedMemory: field('used_memory'),
      commands: field('total_commands_processed'),
      netBytes: field('total_net_input_bytes') + field('total_net_output_bytes'),
      cpuMs: (field('used_cpu_user') + field('used_cpu_sys')) * 1000,
    };
  }

  async stop(): Promise<void> {
    await this.admin.quit().catch(() => this.admin.disconnect());
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = once(this.proc, 'exit');
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
