/**
 * Which way dependencies may point (checked in CI: `npm run deps`, which cruises the sources
 * transpiled to JavaScript in `.deps/`: type-only imports are not dependencies at run time and are
 * gone there).
 *
 * - No cycles.
 * - `workers/core` (config, db, logger, errors, HTTP plumbing) uses no capability and no Durable Object.
 * - `workers/telegram` (the outbound path to the Bot API) uses core and the gate object only.
 * - A Durable Object uses `workers/core`, `workers/telegram` and plain modules of its own capability;
 *   never routes, tasks or the bot.
 * - Nothing imports tests or test helpers but tests.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'core-uses-no-capability',
      comment: 'workers/core is the base every capability builds on: it imports none of them, and no object.',
      severity: 'error',
      from: { path: '^\\.deps/workers/core/', pathNot: '\\.test\\.js$' },
      to: { path: '^\\.deps/(workers/(?!core/)|durable-objects/)' },
    },
    {
      name: 'telegram-path-uses-core-and-gate',
      severity: 'error',
      from: { path: '^\\.deps/workers/telegram/', pathNot: '\\.test\\.js$' },
      to: { path: '^\\.deps/(workers/(?!core/|telegram/)|durable-objects/(?!gate/))' },
    },
    {
      name: 'objects-use-no-routes-tasks-or-bot',
      comment: 'A Durable Object is a shell over plain logic: it is called by routes, tasks and the bot, not the other way.',
      severity: 'error',
      from: { path: '^\\.deps/durable-objects/', pathNot: '\\.test\\.js$' },
      to: { path: '(\\.routes\\.js$|\\.tasks\\.js$|/workers/bot/bot\\.js$|/workers/(index|app|registry)\\.js$)' },
    },
    {
      name: 'no-test-code-in-production',
      severity: 'error',
      from: { path: '^\\.deps/(workers|durable-objects)/', pathNot: '(\\.test\\.js$|/workers/testing/)' },
      to: { path: '(\\.test\\.js$|/workers/testing/)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.js'] },
  },
};
