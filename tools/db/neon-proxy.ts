import pg from 'pg';
import { type SqlExecutor, type SqlQuery, type SqlResult, type SqlServer, serveSqlOverHttp } from './sql-over-http.ts';

/** Rows stay text, as Neon sends them; the driver parses them by type id. */
const rawText = { getTypeParser: () => (value: string) => value };

/**
 * Neon's SQL-over-HTTP in front of any Postgres reachable from here (`DATABASE_URL` set to a local or
 * remote server): statements run on a small warm pool, as Neon's proxy keeps its connections.
 */
export async function startNeonProxy(opts: { databaseUrl: string; port?: number; poolSize?: number }): Promise<SqlServer> {
  const target = new URL(opts.databaseUrl);
  const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: opts.poolSize ?? 8 });
  pool.on('error', () => {});
  const run =
    (client: pg.Pool | pg.PoolClient) =>
    async (q: SqlQuery): Promise<SqlResult> => {
      const result = await client.query({ text: q.query, values: q.params ?? [], rowMode: 'array', types: rawText });
      return { command: result.command, rowCount: result.rowCount ?? 0, rows: result.rows, fields: result.fields, rowAsArray: true };
    };
  const executor: SqlExecutor = {
    run: run(pool),
    transaction: async (fn) => {
      const client = await pool.connect();
      try {
        await client.query('begin');
        const out = await fn(run(client));
        await client.query('commit');
        return out;
      } catch (err) {
        await client.query('rollback').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
  };
  const server = await serveSqlOverHttp(executor, { target: `${target.hostname}:${target.port || 5432}`, port: opts.port });
  return {
    address: server.address,
    close: async () => {
      await server.close();
      await pool.end();
    },
  };
}
