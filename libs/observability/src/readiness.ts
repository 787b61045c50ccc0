import { Injectable } from '@nestjs/common';

export interface ReadinessCheck {
  /** Shown in the /health/ready body, e.g. "redis", "storage", "actors". */
  name: string;
  /** Resolves when the dependency answers; rejects with the reason otherwise. */
  check(): Promise<void>;
}

/** Modules register what "ready" means for them (in onModuleInit); /health/ready runs all of them. */
@Injectable()
export class ReadinessRegistry {
  private readonly checks = new Map<string, ReadinessCheck>();

  register(check: ReadinessCheck): void {
    this.checks.set(check.name, check);
  }

  list(): ReadinessCheck[] {
    return [...this.checks.values()];
  }
}
