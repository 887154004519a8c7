import { incidents } from '../../durable-objects/incidents/incidents.do';
import { type Config, getConfig } from './config';
import type { Logger } from './logger';
import { errorMessage } from './logger';
import { createApi, escapeHtml, notifyAdmins } from './telegram';

/**
 * What makes two failures the same incident: where it happened, the error's type and its message
 * with the numbers and ids taken out (so "timeout after 4012 ms" and "… 4007 ms" are one incident).
 */
export function incidentKey(where: string, err: unknown): string {
  const name = err instanceof Error ? err.name : typeof err;
  return `${where}|${name}|${errorMessage(err).slice(0, 200)}`
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<id>')
    .replace(/\d+/g, '#');
}

/**
 * Tells the admins about a critical failure (an unhandled error of a request, a queue batch or a
 * cron run) once per incident: the first occurrence alerts, the same failure again within the hour
 * only counts. Never throws: reporting must not hide the failure it reports.
 */
export async function reportIncident(env: Env, log: Logger, where: string, err: unknown): Promise<void> {
  try {
    const { alert, occurrences } = await incidents(env).report(incidentKey(where, err));
    log.error('incident', { where, error: errorMessage(err), occurrences, alerted: alert });
    if (!alert) return;
    let config: Config;
    try {
      config = getConfig(env);
    } catch {
      return; // misconfigured: there may be no bot to alert with; the log line above is the report
    }
    const text =
      `🚨 <b>Critical failure</b> in ${escapeHtml(where)}\n<code>${escapeHtml(errorMessage(err).slice(0, 500))}</code>\n` +
      `Correlation id: <code>${escapeHtml(log.correlationId)}</code>\nRepeats within the hour are counted, not sent.`;
    await notifyAdmins(createApi(config, env), config, text, log);
  } catch (reportErr) {
    log.error('incident_report_failed', { where, error: errorMessage(reportErr) });
  }
}
