import type { Api } from 'grammy';
import { outageService } from '../clients/cause';
import type { Config } from '../core/config';
import type { Logger } from '../core/logger';
import { escapeHtml } from '../core/telegram';
import { fingerprint, type Incident, raiseIncident, type Severity } from '../incidents/incidents';
import type { TaskRegistry } from './task';
import type { FinishedRun } from './tasks.repo';

export interface ExhaustionDeps {
  env: Env;
  api: Api;
  config: Config;
  registry: TaskRegistry;
}

/** A run that just went dead, with the external cause of its last failure when there is one. */
export type DeadRun = FinishedRun & { cause?: string };

/**
 * Applies each dead run's `onExhausted` policy: `skip` and `warn` only log; `alert` and `critical` go
 * to the incident ledger grouped by cause, so an outage of one service is one incident however many
 * jobs it kills (`outage:remnawave`), and a task's own failure is one per task and error.
 */
export async function reportExhausted(deps: ExhaustionDeps, runs: DeadRun[], log: Logger): Promise<void> {
  const groups = new Map<string, { severity: Severity; runs: DeadRun[] }>();
  for (const run of runs) {
    const policy = deps.registry.get(run.name)?.onExhausted ?? 'alert';
    const fields = { task: run.name, run_id: run.id, attempts: run.attempts, error: run.error, cause: run.cause };
    if (policy === 'skip') {
      log.info('task_dead_skipped', fields);
      continue;
    }
    if (policy === 'warn') {
      log.warn('task_dead_logged', fields);
      continue;
    }
    const key = run.cause ?? fingerprint(`task:${run.name}|${(run.error ?? 'unknown').slice(0, 200)}`);
    const group = groups.get(key) ?? { severity: 'warning' as Severity, runs: [] };
    if (policy === 'critical') group.severity = 'critical';
    group.runs.push(run);
    groups.set(key, group);
  }
  for (const [key, group] of groups) await raiseIncident(deps, log, incidentOf(key, group.severity, group.runs));
}

function incidentOf(key: string, severity: Severity, runs: DeadRun[]): Incident {
  const first = runs[0] as DeadRun;
  const error = `Error: ${escapeHtml((first.error ?? 'unknown').slice(0, 300))}`;
  const tasks = [...new Set(runs.map((r) => r.name))].map((n) => `<b>${escapeHtml(n)}</b>`).join(', ');
  const service = outageService(first.cause);
  if (service) return { key, severity, title: `<b>${escapeHtml(service)}</b> is failing`, detail: `Runs given up: ${tasks}\n${error}` };
  if (first.cause)
    return {
      key,
      severity,
      title: `<b>${escapeHtml(first.cause.slice('service:'.length).split('|')[0] ?? '')}</b> refuses the requests`,
      detail: `Runs given up: ${tasks}\n${error}`,
    };
  return {
    key,
    severity,
    title: `task ${tasks} is dead after ${first.attempts} tries`,
    detail: `Run: <code>${first.id}</code>${runs.length > 1 ? ` and ${runs.length - 1} more` : ''}\n${error}`,
  };
}
