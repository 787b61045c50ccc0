import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigMap, Namespace, Service } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { REPO_ROOT } from '#libs/testing';

/** Each kind we ship, with the model that validates it against the Kubernetes OpenAPI schema. */
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

const DIR = join(REPO_ROOT, 'deploy/k8s');
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
const objects = files.flatMap((file) =>
  parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((doc, i) => {
    if (doc.errors.length) throw new Error(`${file} document ${i}: ${doc.errors[0]!.message}`);
    return { file, obj: doc.toJS() as any };
  }),
);
const ofKind = (kind: string) => objects.filter((o) => o.obj.kind === kind).map((o) => o.obj);
const deployments = ofKind('Deployment');

describe('deploy/k8s', () => {
  it.each(objects.map((o) => [`${o.file}: ${o.obj.kind} ${o.obj.metadata?.name}`, o.obj]))(
    '%s is valid against the Kubernetes schema',
    (_name, obj) => {
      const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
      expect(Model).toBeDefined();
      expect(() => new Model!(obj).validate()).not.toThrow();
    },
  );

  it('kustomization.yaml lists every manifest', () => {
    const k = parseAllDocuments(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as {
      resources: string[];
    };
    expect([...k.resources].sort()).toEqual([...files].sort());
  });

  it('runs the four apps, each with probes, resources and a disruption budget', () => {
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([
      'artifacts-subgraph',
      'gateway',
      'gpu-worker',
      'jobs-subgraph',
    ]);
    const budgets = ofKind('PodDisruptionBudget').map(
      (p) => p.spec.selector.matchLabels['app.kubernetes.io/name'],
    );
    for (const d of deployments) {
      const c = d.spec.template.spec.containers[0];
      expect([d.metadata.name, c.livenessProbe?.httpGet?.path]).toEqual([d.metadata.name, '/health/live']);
      expect([d.metadata.name, c.readinessProbe?.httpGet?.path]).toEqual([d.metadata.name, '/health/ready']);
      expect(c.resources.limits.memory).toBeDefined();
      expect(c.resources.limits.cpu).toBeDefined();
      expect(budgets).toContain(d.metadata.name);
    }
  });

  it('puts the worker on GPU nodes and never gives it the identity secret', () => {
    const worker = deployments.find((d) => d.metadata.name === 'gpu-worker')!;
    const c = worker.spec.template.spec.containers[0];
    expect(c.resources.limits['nvidia.com/gpu']).toBe(1);
    expect(JSON.stringify(worker)).not.toContain('identity-secret');
  });

  it('takes every secret from files of the switchyard-secrets Secret, never from a literal', () => {
    for (const d of deployments) {
      const env: Array<{ name: string; value?: string }> = d.spec.template.spec.containers[0].env ?? [];
      for (const e of env.filter((e) => /SECRET|PASSWORD|ACCESS_KEY|REDIS_URL/.test(e.name)))
        expect([d.metadata.name, e.name, e.value]).toEqual([
          d.metadata.name,
          e.name,
          expect.stringMatching(/^\/run\/secrets\/switchyard\//),
        ]);
      const mounted = d.spec.template.spec.volumes.find((v: any) => v.name === 'secrets');
      expect(mounted.secret.secretName).toBe('switchyard-secrets');
    }
    const config = ofKind('ConfigMap').find((c) => c.metadata.name === 'switchyard-config')!;
    expect(Object.keys(config.data).filter((k) => /SECRET|PASSWORD/.test(k) && !k.endsWith('_FILE'))).toEqual(
      [],
    );
  });
});
