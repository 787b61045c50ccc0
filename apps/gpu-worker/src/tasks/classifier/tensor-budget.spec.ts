import { assertTensorBudget, MODEL_TENSOR_BUDGET_BYTES, tensorBytes } from './tensor-budget.js';

describe('the tensor budget of a model.* attempt', () => {
  it('fits any 64 MB dataset of a few columns: 16.7M rows of "0,0" (1 feature, 2 classes)', () => {
    const rows = (64 * 1024 * 1024) / 4;
    expect(() => assertTensorBudget('d', rows, { features: 1, numClasses: 2 })).not.toThrow();
    expect(tensorBytes(rows, { features: 1, numClasses: 2 }).total).toBeLessThan(MODEL_TENSOR_BUDGET_BYTES);
  });

  it('refuses a wide dataset whose first layer (and Adam) would not fit, with the numbers', () => {
    // 4 rows of 2M columns: a 16 MB CSV, a 2M x 16 kernel (128 MB) and Adam's two moments
    expect(() => assertTensorBudget('dataset d1', 4, { features: 2_000_000, numClasses: 2 })).toThrow(
      expect.objectContaining({
        code: 'INVALID_INPUT',
        retryable: false,
        message: expect.stringMatching(
          /^dataset d1: 4 rows × 2000000 features, 2 classes need about \d+\.\d MB of tensors \(rows .* MB, model .* MB, a batch .* MB\); an attempt may hold 256\.0 MB$/,
        ),
      }),
    );
  });

  it('counts each row once, not once per class: 20000 rows at 1000 classes are small', () => {
    expect(tensorBytes(20_000, { features: 1, numClasses: 1000 }).total).toBeLessThan(20 * 1024 * 1024);
  });
});
