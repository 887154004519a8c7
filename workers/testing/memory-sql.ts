import { DatabaseSync } from 'node:sqlite';
import type { SqlPort } from '../../durable-objects/campaign/ledger';

/**
 * `SqlPort` over Node's in-memory SQLite: the engine and ledger run here without workerd. Rows read
 * are the rows returned (SQLite in Node does not count scanned rows), rows written the changes.
 */
export function memorySql(): SqlPort {
  const db = new DatabaseSync(':memory:');
  return {
    exec(query, ...bindings) {
      const statement = db.prepare(query);
      const values = bindings.map((b) => (b instanceof ArrayBuffer ? new Uint8Array(b) : b));
      const reads = /^\s*(select|with|pragma)\b/i.test(query) || /\breturning\b/i.test(query);
      if (reads) {
        const rows = statement.all(...values) as Record<string, never>[];
        const written = /^\s*(select|with|pragma)\b/i.test(query) ? 0 : rows.length;
        return { toArray: () => rows, rowsRead: rows.length, rowsWritten: written };
      }
      const { changes } = statement.run(...values);
      return { toArray: () => [], rowsRead: 0, rowsWritten: Number(changes) };
    },
  };
}
