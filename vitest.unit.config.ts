import { defineConfig } from 'vitest/config';
import { ftlAsText } from './tools/test/ftl-as-text.ts';

/** Plain unit tests in Node (no workerd): the campaign engine, ledger and runtime over an in-memory SQLite. */
export default defineConfig({
  plugins: [ftlAsText],
  test: { include: ['**/*.unit.test.ts'], exclude: ['node_modules/**'], environment: 'node' },
});
