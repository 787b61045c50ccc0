import {
  MAX_OPERATION_NAME_LENGTH,
  MAX_OPERATION_NAMES_PER_TENANT,
  OperationNameLabels,
  operationMetricsPlugin,
} from './operation-metrics-plugin.js';

describe('OperationNameLabels', () => {
  it('names unnamed operations anonymous and non-GraphQL names invalid', () => {
    const labels = new OperationNameLabels();
    expect(labels.label(undefined)).toBe('anonymous');
    expect(labels.label('')).toBe('anonymous');
    expect(labels.label('drop table; --')).toBe('invalid');
    expect(labels.label('SubmitJob')).toBe('SubmitJob');
  });

  it('cuts long names and stops adding new names past the limit', () => {
    const labels = new OperationNameLabels(2);
    expect(labels.label('A'.repeat(500))).toBe('A'.repeat(MAX_OPERATION_NAME_LENGTH));
    expect(labels.label('Second')).toBe('Second');
    expect(labels.label('Third')).toBe('other');
    // names seen before the limit keep their label
    expect(labels.label('Second')).toBe('Second');
    expect(labels.label('A'.repeat(70))).toBe('A'.repeat(MAX_OPERATION_NAME_LENGTH));
  });
});

describe('operation name labels under a tenant that makes names up', () => {
  // Every client chooses its operation names: one tenant sending many distinct names must neither grow the
  // series without bound nor use up the labels, so that every other tenant's operations read `other`.
  it('keeps the series bounded and leaves other tenants their names', () => {
    const labels = new OperationNameLabels(200);
    const noisy = new Set<string>();
    for (let i = 0; i < 5000; i++) noisy.add(labels.label(`Op${i}`, 'noisy'));
    expect(noisy.size).toBeLessThanOrEqual(MAX_OPERATION_NAMES_PER_TENANT + 1); // + `other`
    expect(labels.label('SubmitJob', 'acme')).toBe('SubmitJob');
    expect(labels.label('JobPage', 'globex')).toBe('JobPage');
    // a name another tenant already introduced keeps its label for everyone
    expect(labels.label('Op0', 'acme')).toBe('Op0');
  });

  it('still stops at the process-wide limit when many tenants make names up', () => {
    const labels = new OperationNameLabels(50);
    const all = new Set<string>();
    for (let t = 0; t < 100; t++)
      for (let i = 0; i < 100; i++) all.add(labels.label(`T${t}Op${i}`, `tenant-${t}`));
    expect(all.size).toBeLessThanOrEqual(51);
  });

  it('the plugin labels by the caller’s tenant', async () => {
    const seen: string[] = [];
    const plugin = operationMetricsPlugin<{ identity?: { tenant: string } }>(
      (_type, name) => seen.push(name),
      new OperationNameLabels(200),
    );
    const run = async (tenant: string, name: string) => {
      const hooks = await plugin.requestDidStart!({ contextValue: { identity: { tenant } } } as never);
      await hooks!.willSendResponse!({ operationName: name, request: {} } as never);
    };
    for (let i = 0; i < 500; i++) await run('noisy', `Junk${i}`);
    await run('acme', 'SubmitJob');
    expect(seen.at(-1)).toBe('SubmitJob');
    expect(new Set(seen).size).toBeLessThanOrEqual(MAX_OPERATION_NAMES_PER_TENANT + 2);
  });
});
