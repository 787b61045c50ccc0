import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
export { GraphQLJSON as JSONScalar } from 'graphql-scalars';

/** `DateTime`: ISO-8601 string, UTC (the public contract's scalar, in every subgraph). */
export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'ISO-8601 date-time, UTC',
  serialize(value) {
    const d = value instanceof Date ? value : new Date(String(value));
    if (Number.isNaN(d.getTime())) throw new GraphQLError(`DateTime cannot represent ${String(value)}`);
    return d.toISOString();
  },
  parseValue(value) {
    const d = new Date(String(value));
    if (typeof value !== 'string' || Number.isNaN(d.getTime()))
      throw new GraphQLError('DateTime must be an ISO-8601 string');
    return d;
  },
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING || Number.isNaN(new Date(ast.value).getTime()))
      throw new GraphQLError('DateTime must be an ISO-8601 string');
    return new Date(ast.value);
  },
});
