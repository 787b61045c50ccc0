import {
  artifactKey,
  InvalidArtifactNameError,
  InvalidKeySegmentError,
  sanitizeName,
  uploadCommittedKey,
  uploadStagingKey,
  attachmentDisposition,
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
  it('puts each task output under tenant/job/node/attempt/its own artifact id', () => {
    expect(
      artifactKey({
        tenant: 'acme',
        jobId: 'j-1',
        nodeId: 'resize',
        attempt: 2,
        artifactId: 'a1',
        name: '../out.png',
      }),
    ).toBe('acme/j-1/resize/2/a1/_out.png');
  });
  it('stages uploads under tenant/incoming/id and commits them under tenant/uploads/id/copy', () => {
    expect(uploadStagingKey({ tenant: 'acme', artifactId: 'a1', name: 'in.csv' })).toBe(
      'acme/incoming/a1/in.csv',
    );
    expect(uploadCommittedKey({ tenant: 'acme', artifactId: 'a1', copyId: 'c1', name: 'in.csv' })).toBe(
      'acme/uploads/a1/c1/in.csv',
    );
    expect(() => uploadCommittedKey({ tenant: 'acme', artifactId: 'a1', copyId: '..', name: 'x' })).toThrow(
      InvalidKeySegmentError,
    );
  });
  it('makes a safe attachment disposition', () => {
    expect(attachmentDisposition('a.csv')).toBe('attachment; filename="a.csv"');
    expect(attachmentDisposition('"x";\r\nSet-Cookie: y.html')).toBe(
      'attachment; filename="_x____Set-Cookie__y.html"',
    );
    expect(attachmentDisposition('..')).toBe('attachment; filename="download"');
  });
  it.each([
    [{ tenant: 'Acme', jobId: 'j', nodeId: 'n', attempt: 1 }],
    [{ tenant: 'acme', jobId: '..', nodeId: 'n', attempt: 1 }],
    [{ tenant: 'acme', jobId: 'a/b', nodeId: 'n', attempt: 1 }],
    [{ tenant: 'acme', jobId: 'j', nodeId: '1n', attempt: 1 }],
    [{ tenant: 'acme', jobId: 'j', nodeId: 'n', attempt: 0 }],
    [{ tenant: 'acme', jobId: 'j', nodeId: 'n', attempt: 1.5 }],
    [{ tenant: 'acme', jobId: 'j', nodeId: 'n', attempt: 1, artifactId: '..' }],
    [{ tenant: 'acme', jobId: 'j', nodeId: 'n', attempt: 1, artifactId: 'a/b' }],
  ])('refuses unsafe segments %j', (p) => {
    expect(() => artifactKey({ artifactId: 'a1', ...p, name: 'x' })).toThrow(InvalidKeySegmentError);
  });
});
