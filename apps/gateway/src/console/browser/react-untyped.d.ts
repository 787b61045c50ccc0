// @types/react is not a dependency yet: React is untyped in this typecheck (see tsconfig.json here).
declare module 'react';
