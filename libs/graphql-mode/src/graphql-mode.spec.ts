import { graphqlProductionMode } from './index.js';

describe('graphql-mode', () => {
  it('loads graphql-js type checks in production mode and puts NODE_ENV back', () => {
    expect(process.env.NODE_ENV).toBe('test');
    expect(graphqlProductionMode()).toBe(true);
  });
});
