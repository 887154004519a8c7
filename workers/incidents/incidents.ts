import { incidents, type Occurrence, type Severity } from '../../durable-objects/incidents/incidents.do';
import { type Config, getConfig } from '../core/config';
import type { Logger } from '../core/logger';
import { errorMessage } from '../core/logger';
import { escapeHtml } from '../core/telegram';

export type { Severity } from '../../durable-objects/incidents/incidents.do';

/**
 * What makes two failures the same incident: where it happened, the error's type and its message
 * with the numbers and ids taken out (so "timeout after 4012 ms" and "… 4007 ms" are one incident).
 */
export function incidentKey(where: string, err: unknown): string {
  const name = err instanceof Error ? err.name : typeof err;
  return fingerprint(`${where}|${name}|${errorMessage(err).slice(0, 200)}`);
}

/** Text with its ids and numbers taken out, so that occurrences of one failure share a key. */
export function fingerprint(text: string): string {
  return text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<id>').replace(/\d+/g, '#');
}

/** The ledger key of an outage of an external service: every failure it causes is this one incident. */
export const outageKey = (service: string) => `outage:${service}`;

export interface Incident {
  /** What makes occurrences the same incident: `outage:<service>`, or a task and its error. */
  key: string;
  severity: Severity;
  /** One line, HTML-escaped by the caller where it carries outside text. */
  title: string;
  /** More lines under the title (HTML). */
  detail?: string;
  /** The error behind it, for the log line (already redacted of parameters by `errorMessage`). */
  error?: string;
}

export interface AlertDeps {
  env: Env;
  config: Pick<Config, 'ADMIN_TELEGRAM_IDS'>;
}

const LABEL: Record<Severity, string> = { warning: '⚠️ WARNING', critical: '🚨 CRITICAL' };

/** The alert of an incident's first occurrence, or of its escalation to CRITICAL. */
function incidentText(incident: Incident, o: Pick<Occurrence, 'escalated' | 'severity'>): string {
  const label = o.escalated ? `${LABEL.critical} (was WARNING)` : LABEL[o.severity];
  return `${label}: ${incident.title}${incident.detail ? `\n${incident.detail}` : ''}\nRepeats are counted, not sent.`;
}

/**
 * Counts an occurrence of an incident and tells the admins when the ledger says so (a new incident,
 * or one that became CRITICAL). Never throws: reporting must not hide the failure it reports.
 */
export async function raiseIncident(deps: AlertDeps, log: Logger, incident: Incident): Promise<Occurrence | undefined> {
  try {
    // The ledger queues the alert in the same step it decides it, so a decided alert is never lost.
    const texts = {
      new: incidentText(incident, { escalated: false, severity: incident.severity }),
      escalated: incidentText(incident, { escalated: true, severity: 'critical' }),
    };
    const o = await incidents(deps.env).report(incident.key, Date.now(), incident.severity, incident.title, {
      chatIds: deps.config.ADMIN_TELEGRAM_IDS,
      texts,
    });
    log[o.severity === 'critical' ? 'error' : 'warn']('incident', {
      key: incident.key,
      severity: o.severity,
      occurrences: o.occurrences,
      alerted: o.alert,
      ...(incident.error === undefined ? {} : { error: incident.error }),
    });
    return o;
  } catch (err) {
    log.error('incident_report_failed', { key: incident.key, error: errorMessage(err) });
    return undefined;
  }
}

/**
 * Resolves the open incident of `key` when its last occurrence is at least `quietMs` old, and tells
 * the admins once (`what` names what recovered). Returns whether it was resolved now. Never throws.
 */
export async function resolveIncident(deps: AlertDeps, log: Logger, key: string, what: string, quietMs = 0): Promise<boolean> {
  try {
    const done = await incidents(deps.env).resolve(key, Date.now(), quietMs, { chatIds: deps.config.ADMIN_TELEGRAM_IDS, what });
    if (!done) return false;
    log.info('incident_resolved', { key, occurrences: done.occurrences, minutes: Math.round((Date.now() - done.openedAt) / 60_000) });
    return true;
  } catch (err) {
    log.error('incident_resolve_failed', { key, error: errorMessage(err) });
    return false;
  }
}

/**
 * Tells the admins about a critical failure (an unhandled error of a request, a queue batch or a
 * cron run) once per incident: the first occurrence alerts, the same failure again within the hour
 * only counts. Never throws.
 */
export async function reportIncident(env: Env, log: Logger, where: string, err: unknown): Promise<void> {
  const key = incidentKey(where, err);
  let config: Config;
  try {
    config = getConfig(env);
  } catch {
    // Misconfigured: there may be no bot to alert with; the ledger still counts it, the log line is the report.
    try {
      const o = await incidents(env).report(key, Date.now(), 'critical');
      log.error('incident', { where, error: errorMessage(err), occurrences: o.occurrences, alerted: false });
    } catch (reportErr) {
      log.error('incident_report_failed', { where, error: errorMessage(reportErr) });
    }
    return;
  }
  await raiseIncident({ env, config }, log, {
    key,
    severity: 'critical',
    title: `unhandled failure in ${escapeHtml(where)}`,
    error: errorMessage(err),
    detail: `<code>${escapeHtml(errorMessage(err).slice(0, 500))}</code>\nCorrelation id: <code>${escapeHtml(log.correlationId)}</code>`,
  });
}

/**
 * Tells every admin in `ADMIN_TELEGRAM_IDS` (HTML). The message goes to the incident ledger's outbox and
 * is delivered by it through the outbound path, ahead of broadcasts, retried until Telegram has it:
 * queuing it is the only step that can fail here, and that is logged, never thrown.
 */
export async function notifyAdmins(env: Env, config: Pick<Config, 'ADMIN_TELEGRAM_IDS'>, text: string, log: Logger): Promise<void> {
  try {
    await incidents(env).alert(config.ADMIN_TELEGRAM_IDS, text);
  } catch (err) {
    log.warn('admin_notify_failed', { error: errorMessage(err) });
  }
}

/** Tells the admin who asked for a job (`requestedBy`), or every admin when nobody in particular did. */
export function notifyRequester(
  env: Env,
  config: Pick<Config, 'ADMIN_TELEGRAM_IDS'>,
  requestedBy: number | undefined,
  text: string,
  log: Logger,
) {
  return notifyAdmins(env, requestedBy ? { ADMIN_TELEGRAM_IDS: [requestedBy] } : config, text, log);
}
