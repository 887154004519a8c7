import type { Plugin } from 'vite';

/** Fluent files are imported as text, as wrangler's `Text` rule does in the deployed bundle. */
export const ftlAsText: Plugin = {
  name: 'ftl-as-text',
  transform: (code, id) => (id.endsWith('.ftl') ? { code: `export default ${JSON.stringify(code)};`, map: null } : undefined),
};
