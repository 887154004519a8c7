import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { remnawave } from '../clients/remnawave';
import type { Config } from '../core/config';
import type { Db } from '../core/db';
import { instant } from '../core/openapi';
import { notifyRequester } from '../incidents/incidents';
import { defineTask, MAX_TIMEOUT_SECONDS, seedPolicies } from '../tasks/task';
import { LINK_TTL_SECONDS, signedPath } from './signing';
import { csvField, PartWriter } from './writer';

const exportTypes = ['users', 'payments', 'servers', 'audit'] as const;
export const exportArgs = z.object({
  type: z.enum(exportTypes),
  from: instant(),
  to: instant(),
  format: z.enum(['csv', 'json']).default('csv'),
  /** Telegram id of the admin who asked: they get the link (else every admin does). */
  requested_by: z.number().int().optional(),
  /** Origin the link is built on (the admin API's own). */
  base_url: z.url(),
});
type ExportArgs = z.infer<typeof exportArgs>;

/** Rows read per query. */
const PAGE = 1000;

type Row = Record<string, unknown>;

/** Tables read by keyset on `key` (never OFFSET), `created_at` within the range. */
const tables: Record<
  Exclude<ExportArgs['type'], 'servers'>,
  { table: string; key: string; keyType: 'bigint' | 'uuid'; columns: string[] }
> = {
  users: {
    table: 'users',
    key: 'id',
    keyType: 'bigint',
    columns: ['id', 'telegram_id', 'username', 'full_name', 'language_code', 'is_active', 'blocked_at', 'created_at'],
  },
  payments: {
    table: 'payments',
    key: 'id',
    keyType: 'uuid',
    columns: [
      'id',
      'provider',
      'invoice_id',
      'telegram_id',
      'remnawave_user_id',
      'plan',
      'days',
      'amount',
      'asset',
      'status',
      'created_at',
      'completed_at',
    ],
  },
  audit: { table: 'audit_logs', key: 'id', keyType: 'uuid', columns: ['id', 'action', 'entity', 'entity_id', 'details', 'created_at'] },
};

const SERVER_COLUMNS = [
  'uuid',
  'name',
  'address',
  'countryCode',
  'isConnected',
  'isDisabled',
  'isConnecting',
  'usersOnline',
  'trafficUsedBytes',
];
const columnsOf = (type: ExportArgs['type']) => (type === 'servers' ? SERVER_COLUMNS : tables[type].columns);

/** Pages of rows of the export, 1,000 at a time. */
async function* rows(db: Db, config: Config, args: ExportArgs): AsyncGenerator<{ columns: string[]; rows: Row[] }> {
  if (args.type === 'servers') {
    const columns = SERVER_COLUMNS;
    const nodes = (await remnawave(config).nodes()) as unknown as Row[];
    yield { columns, rows: nodes.map((n) => Object.fromEntries(columns.map((c) => [c, n[c]]))) };
    return;
  }
  const t = tables[args.type];
  // Big ids as text (JSON numbers lose precision past 2^53), timestamps as ISO 8601.
  const select = sql.raw(
    t.columns
      .map((c) =>
        c === 'telegram_id' || c === 'invoice_id' ? `${c}::text as ${c}` : c.endsWith('_at') ? `to_json(${c}) #>> '{}' as ${c}` : c,
      )
      .join(', '),
  );
  const key = sql.identifier(t.key);
  const cast = sql.raw(t.keyType);
  let after: string | null = null;
  for (;;) {
    const page: { rows: Row[] } = await db.execute<Row>(sql`
      select ${select} from ${sql.identifier(t.table)}
      where created_at >= ${args.from}::timestamptz and created_at < ${args.to}::timestamptz
        and (${after}::${cast} is null or ${key} > ${after}::${cast})
      order by ${key}
      limit ${PAGE}`);
    if (!page.rows.length) return;
    yield { columns: t.columns, rows: page.rows };
    if (page.rows.length < PAGE) return;
    after = String(page.rows.at(-1)?.[t.key]);
  }
}

/**
 * Exports a table (or the panel's servers) for a date range as CSV or JSON into R2
 * (`exports/<run id>.<format>`): rows read 1,000 at a time and streamed into a multipart upload in
 * 5 MiB parts, so memory never holds the export. When done the admin gets a signed link that works
 * for 24 hours; the files are deleted after 24 hours.
 */
const exportDataTask = defineTask({
  name: 'export_data',
  args: exportArgs,
  retry: seedPolicies.bulk,
  timeoutSeconds: MAX_TIMEOUT_SECONDS,
  handler: async ({ args, run, db, config, env, log, progress }) => {
    const key = `exports/${run.id}.${args.format}`;
    const upload = await env.EXPORTS.createMultipartUpload(key, {
      httpMetadata: {
        contentType: args.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json',
        contentDisposition: `attachment; filename="${args.type}-${args.from.slice(0, 10)}-${args.to.slice(0, 10)}.${args.format}"`,
      },
      customMetadata: { type: args.type, from: args.from, to: args.to },
    });
    const out = new PartWriter(upload);
    let count = 0;
    try {
      let first = true;
      if (args.format === 'json') await out.write('[');
      for await (const page of rows(db, config, args)) {
        if (args.format === 'csv' && first) await out.write(`${page.columns.join(',')}\n`);
        const text =
          args.format === 'csv'
            ? page.rows.map((r) => `${page.columns.map((c) => csvField(r[c])).join(',')}\n`).join('')
            : page.rows.map((r, i) => `${first && i === 0 ? '\n' : ',\n'}${JSON.stringify(r)}`).join('');
        first = false;
        await out.write(text);
        count += page.rows.length;
        await progress({ done: count, note: `${count} rows` });
      }
      if (args.format === 'json') await out.write(first ? ']\n' : '\n]\n');
      else if (first) await out.write(`${columnsOf(args.type).join(',')}\n`);
      const parts = await out.close();
      const url = `${args.base_url}${await signedPath(config.ADMIN_API_TOKEN, key)}`;
      log.info('export_done', { key, rows: count, bytes: out.bytes, parts });
      await notifyRequester(
        env,
        config,
        args.requested_by,
        `📄 Export <b>${args.type}</b> ready: ${count} rows.\n${url}\nThe link works for 24 hours.`,
        log,
      );
      return { key, rows: count, bytes: out.bytes, parts, peak_buffered_bytes: out.peakBuffered, url };
    } catch (err) {
      await upload.abort().catch(() => {});
      throw err;
    }
  },
});

/** Export files live as long as their links. */
const EXPORT_TTL_MS = LINK_TTL_SECONDS * 1000;

/** Hourly: export files older than 24 hours are deleted (an R2 lifecycle rule does the same in production). */
const cleanupExportsTask = defineTask({
  name: 'cleanup_exports',
  // `as_of`: the moment to clean up as of (default now), so the 24 hours can be checked without waiting them.
  args: z.object({ as_of: instant().optional() }).strict(),
  retry: seedPolicies.cleanup,
  onExhausted: 'warn',
  handler: async ({ args, env, log }) => {
    const before = (args.as_of ? Date.parse(args.as_of) : Date.now()) - EXPORT_TTL_MS;
    let removed = 0;
    let cursor: string | undefined;
    do {
      const list = await env.EXPORTS.list({ prefix: 'exports/', cursor, limit: 1000 });
      const old = list.objects.filter((o) => o.uploaded.getTime() < before).map((o) => o.key);
      if (old.length) await env.EXPORTS.delete(old);
      removed += old.length;
      cursor = list.truncated ? list.cursor : undefined;
    } while (cursor);
    log.info('cleanup_done', { table: 'r2:exports', removed });
    return { removed };
  },
});

export const exportTasks = [exportDataTask, cleanupExportsTask];
