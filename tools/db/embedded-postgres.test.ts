/** The embedded Postgres: a database per test file, each with its own tables, over both fronts. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pg from 'pg';
import { startEmbeddedPostgres } from './embedded-postgres.ts';

const server = await startEmbeddedPostgres();
after(() => server.close());

/** A statement over Neon's SQL-over-HTTP, as the Worker's driver sends it. */
async function overHttp(url: string, query: string, params: unknown[] = []): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://${server.proxy}/sql`, {
    method: 'POST',
    headers: { 'neon-connection-string': url, 'content-type': 'application/json' },
    body: JSON.stringify({ query, params }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('each database made from the migrations has tables of its own', async () => {
  const one = await server.createDatabase('file_one');
  const two = await server.createDatabase('file_two');
  const insert = `insert into users (telegram_id, full_name) values ($1, 'a')`;
  assert.equal((await overHttp(one, insert, ['1'])).status, 200);
  assert.equal((await overHttp(one, insert, ['2'])).status, 200);
  assert.equal((await overHttp(two, insert, ['3'])).status, 200);
  const count = async (url: string) => ((await overHttp(url, 'select count(*)::int as n from users')).body.rows as unknown[][])[0]?.[0];
  assert.equal(await count(one), '2'); // rows come back as text, as Neon sends them
  assert.equal(await count(two), '1');

  // Over the wire protocol too; the default database has no migrations applied here.
  const client = new pg.Client({ connectionString: two });
  await client.connect();
  assert.deepEqual((await client.query('select telegram_id::int as id from users')).rows, [{ id: 3 }]);
  await client.end();
  assert.equal((await overHttp(server.url, 'select count(*) from users')).status, 400);
});

test('a database never made is refused as Postgres refuses it', async () => {
  const missing = server.url.replace(/\/postgres$/, '/nowhere');
  const res = await overHttp(missing, 'select 1');
  assert.equal(res.status, 400);
  assert.equal(res.body.code, '3D000');
  const client = new pg.Client({ connectionString: missing });
  await assert.rejects(client.connect(), /database "nowhere" does not exist/);
  await assert.rejects(server.createDatabase('file_one'), /already exists/);
  await assert.rejects(server.createDatabase('bad name;'), /invalid database name/);
});
