import pg from 'pg';
import { DatabaseError } from './pglite-server.ts';
import { type SqlExecutor, type SqlQuery, type SqlResult, type SqlServer, serveSqlOverHttp } from './sql-over-http.ts';

/** Rows stay text, as Neon sends them; the driver parses them by type id. */
const rawText = { getTypeParser: () => (value: string) => value };

/**
 * Neon's SQL-over-HTTP in front of any Postgres reachable from here (`DATABASE_URL` set to a local or
 * remote server): statements run on a small warm pool, as Neon's proxy keeps its connections.
 */
export async function startNeonProxy(opts: { databaseUrl: string; port?: number; poolSize?: number }): Promise<SqlServer> {
  const target = new URL(opts.databaseUrl);
  const ownDatabase = decodeURIComponent(target.pathname.slice(1)) || 'postgres';
  // One pool, one database: a query for another is refused as Postgres refuses the connection.
  const checked = (database: string) => {
    if (database !== ownDatabase) throw new DatabaseError('3D000', `database "${database}" does not exist`);
  };
  const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: opts.poolSize ?? 8 });
  pool.on('error', () => {});
  const run =
    (client: pg.Pool | pg.PoolClient) =>
    async (q: SqlQuery): Promise<SqlResult> => {
      const result = await client.query({ text: q.query, values: q.params ?? [], rowMode: 'array', types: rawText });
      return { command: result.command, rowCount: result.rowCount ?? 0, rows: result.rows, fields: result.fields, rowAsArray: true };
    };
  const executor: SqlExecutor = {
    run: async (q, database) => {
      checked(database);
      return run(pool)(q);
    },
    transaction: async (fn, database) => {
      checked(database);
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
