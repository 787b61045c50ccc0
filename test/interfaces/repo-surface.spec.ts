// What the issues and the README name outside the code: the npm scripts, the files and folders users and
// operators are pointed at, the README's two commands, and what `npm start` prints when it is up.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '#libs/testing';
import { readyBanner } from '../../scripts/launcher/ready-banner.js';

const read = (file: string) => readFileSync(join(REPO_ROOT, file), 'utf8');

describe('public surface of the repository', () => {
  it('has the npm scripts the issues and READMEs name', () => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(Object.keys(scripts)).toEqual(
      expect.arrayContaining(['start', 'test', 'build', 'keys', 'compose', 'codegen', 'bench', 'lint']),
    );
    expect(scripts.start).toMatch(/node dist\/scripts\/start\.js$/);
    expect(scripts.keys).toMatch(/node dist\/scripts\/keys\.js$/);
  });

  it.each([
    // issue 2
    'docker-compose.yml',
    'Dockerfile',
    'nest-cli.json',
    'package-lock.json',
    '.ci/run',
    // issues 3, 6, 11: templates, the committed schemas, typed clients
    'templates/thumbnail.v1.json',
    'templates/train-and-evaluate.v1.json',
    'graphql/jobs.graphql',
    'graphql/artifacts.graphql',
    'graphql/supergraph.graphql',
    'graphql/api.graphql',
    'codegen.ts',
    'examples/submit-and-follow.ts',
    // issue 4, README
    'scripts/gpu-check',
    'data/blobs-3class.csv',
    // docs the issues ask for
    'docs/architecture.md',
    'docs/deployment.md',
    'docs/security.md',
    'docs/federation.md',
    'docs/metrics.md',
    'docs/decisions',
    // issue 13
    'deploy/grafana',
    'deploy/prometheus',
    'deploy/k8s',
    // e2e scenarios the issues name
    'test/e2e/hostile-tenants',
    'test/e2e/foreign-router',
    // issue 12: each target a benchmark in bench/
    'bench/README.md',
    'bench/e2e-throughput.ts',
    'bench/scheduler-throughput.ts',
    'bench/scheduler-trace.ts',
    'bench/gateway-overhead.ts',
    'bench/gateway-fanout.ts',
    'bench/gateway-reads.ts',
    'bench/worker-runner-overhead.ts',
    'bench/startup.ts',
    'bench/stack-support/launched-stack.ts',
  ])('%s exists', (path) => {
    expect(existsSync(join(REPO_ROOT, path))).toBe(true);
  });

  it('scripts/gpu-check and .ci/run are executable', () => {
    for (const f of ['scripts/gpu-check', '.ci/run'])
      expect(statSync(join(REPO_ROOT, f)).mode & 0o111).not.toBe(0);
  });

  it("README states the run and test commands and the keys CLI's create line", () => {
    const readme = read('README.md');
    expect(readme).toContain('```sh\nnpm ci && npm start\n```');
    expect(readme).toContain('```sh\nnpm ci && npm test\n```');
    // the one test command installs what the tests need itself, as npm start does
    expect(JSON.parse(read('package.json')).scripts.test).toContain(
      'node dist/scripts/test-prerequisites.js',
    );
    expect(readme).toContain('npm run keys -- create --tenant acme --scopes jobs:read,jobs:write');
    expect(readme).toMatch(/npm run keys -- list\n/);
    expect(readme).toMatch(/npm run keys -- revoke <id>/);
  });

  it('npm start, once up, names the GraphQL URL, the console and the playground, then the dev key', () => {
    const lines = readyBanner({ gatewayPort: 4000, seconds: 5.94, logDir: '/data/logs' });
    const text = lines.join('\n');
    expect(text).toMatch(
      /Switchyard is up in 5\.9 s\. GraphQL \(HTTP \+ graphql-ws\): http:\/\/localhost:4000\/graphql/,
    );
    expect(text).toContain('http://localhost:4000/console');
    // the playground asks for the key itself (issue 15): no header to edit by hand
    expect(text).not.toMatch(/set the header/i);
    // the key follows this line, alone on the launcher's last line (bench/stack-support reads it so)
    expect(lines.at(-1)).toMatch(/^Dev API key/);
  });
});
