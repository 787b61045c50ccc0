import { OperationNameLabels, MAX_OPERATION_NAME_LENGTH } from './operation-metrics-plugin.js';

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
