import {
  artifactKey,
  InvalidArtifactNameError,
  InvalidKeySegmentError,
  sanitizeName,
  uploadKey,
} from './index.js';

describe('sanitizeName', () => {
  it.each([
    ['thumb.png', 'thumb.png'],
    ['../../etc/passwd', '_.._etc_passwd'],
    ['..\\..\\win.ini', '_.._win.ini'],
    ['a/b/c.txt', 'a_b_c.txt'],
    ['bell\u0007\nname\u0000.bin', 'bell__name_.bin'],
    ['.hidden', 'hidden'],
    ['my report (final).csv', 'my_report__final_.csv'],
    ['résumé.pdf', 'r_sum_.pdf'],
  ])('%j → %j', (input, expected) => {
    expect(sanitizeName(input)).toBe(expected);
    expect(sanitizeName(input)).toMatch(/^[A-Za-z0-9._-]+$/);
  });

  it.each([[''], ['..'], ['/'], ['\u0000\u0001'], ['....//'], [42], ['a'.repeat(201)]])(
    'refuses %j',
    (input) => {
      expect(() => sanitizeName(input)).toThrow(InvalidArtifactNameError);
    },
  );
});

describe('object keys', () => {
  it('puts task outputs under tenant/job/node/attempt', () => {
    expect(
      artifactKey({ tenant: 'acme', jobId: 'j-1', nodeId: 'resize', attempt: 2, name: '../out.png' }),
    ).toBe('acme/j-1/resize/2/_out.png');
  });
  it('puts uploads under tenant/uploads/id', () => {
    expect(uploadKey({ tenant: 'acme', artifactId: 'a1', name: 'in.csv' })).toBe('acme/uploads/a1/in.csv');
  });
  it.each([
    [{ tenant: 'Acme', jobId: 'j', nodeId: 'n', attempt: 1 }],
    [{ tenant: 'acme', jobId: '..', nodeId: 'n', attempt: 1 }],
    [{ tenant: 'acme', jobId: 'a/b', nodeId: 'n', attempt: 1 }],
    [{ tenant: 'acme', jobId: 'j', nodeId: '1n', attempt: 1 }],
    [{ tenant: 'acme', jobId: 'j', nodeId: 'n', attempt: 0 }],
    [{ tenant: 'acme', jobId: 'j', nodeId: 'n', attempt: 1.5 }],
  ])('refuses unsafe segments %j', (p) => {
    expect(() => artifactKey({ ...p, name: 'x' })).toThrow(InvalidKeySegmentError);
  });
});
