/**
 * The floor for one app's boot: a Nest app on express with one readiness route and nothing else (no GraphQL,
 * no Redis, no logger), as small as a Nest service gets. PORT from the environment; SIGTERM ends it.
 */
import 'reflect-metadata';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

@Controller()
class ReadyController {
  @Get('health/ready')
  ready() {
    return { status: 'ok' };
  }
}

@Module({ controllers: [ReadyController] })
class MinimalModule {}

const app = await NestFactory.create(MinimalModule, { logger: false });
await app.listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => process.exit(0));
