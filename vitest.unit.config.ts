import { defineConfig } from 'vitest/config';

/** Plain unit tests in Node (no workerd): the campaign engine and ledger over an in-memory SQLite. */
export default defineConfig({
  test: { include: ['**/*.unit.test.ts'], exclude: ['node_modules/**'], environment: 'node' },
});
