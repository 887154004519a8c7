import type { SQL } from 'drizzle-orm';
import type { Db } from './db';

type Labels = Record<string, string | number>;

/** A metric family in Prometheus's text format: name, help, type and its samples. */
export interface Family {
  name: string;
  help: string;
  type: 'gauge' | 'counter' | 'histogram';
  samples: { suffix?: string; labels?: Labels; value: number }[];
}

/** What a capability adds to `/metrics`, read at scrape time (Workers keep no state between requests). */
export type Collector = (scrape: { db: Db; env: Env }) => Promise<Family[]>;

/** One family several collectors add to (tasks, notifications), by `queue` label. */
export const QUEUE_BACKLOG = { name: 'flarecast_queue_backlog', help: 'Work overdue in each queue.', type: 'gauge' } as const;

/** The rows of one query of a collector. */
export async function metricRows<T extends Record<string, unknown>>(db: Db, query: SQL): Promise<T[]> {
  return (await db.execute<T>(query)).rows;
}

const escapeLabel = (v: string | number) => String(v).replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');

/** Prometheus text exposition format 0.0.4; families of one name from several collectors are merged. */
export function render(families: Family[]): string {
  const merged = new Map<string, Family>();
  for (const f of families) {
    const seen = merged.get(f.name);
    if (seen) seen.samples = [...seen.samples, ...f.samples];
    else merged.set(f.name, { ...f });
  }
  const lines: string[] = [];
  for (const f of merged.values()) {
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels =
        s.labels && Object.keys(s.labels).length
          ? `{${Object.entries(s.labels)
              .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
              .join(',')}}`
          : '';
      lines.push(`${f.name}${s.suffix ?? ''}${labels} ${Number.isFinite(s.value) ? s.value : 0}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
