import { Hono } from 'hono';
import { incidents } from '../../durable-objects/incidents/incidents.do';
import { type Capability, capabilities, capabilityTable } from '../core/capabilities';
import { errorMessage } from '../core/logger';
import { listNodes, listServices, recentNodeEvents } from '../monitoring/nodes';
import { recentAnomalies } from '../reports/reports';
import type { C, ConsoleApi, ConsoleEnv } from './console.kit';
import { ApiReferencePage, type OpenApiDoc, type OperationsData, OperationsPage, type RunView } from './views';

/** `/admin/operations` (the dashboard, nodes, services, alerts, bulk jobs, exports, incidents) and `/admin/api`. */
export function operationsPages(api: ConsoleApi) {
  return new Hono<ConsoleEnv>()
    .get('/operations', async (c) => c.html(<OperationsPage csrf={c.var.session.csrfToken} data={await operations(c, api)} />))
    .get('/dashboard/events', (c) => api.passThrough(c, '/dashboard/events'))
    .get('/api', async (c) =>
      c.html(<ApiReferencePage csrf={c.var.session.csrfToken} doc={await api.get<OpenApiDoc>(c, '/openapi.json')} />),
    );
}

/** Every part read at once, from its capability; a part that fails is named on the page and the others still show. */
async function operations(c: C, api: ConsoleApi): Promise<OperationsData> {
  const { db } = c.var;
  const problems: string[] = [];
  const part = async <T,>(what: string, read: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await read();
    } catch (err) {
      problems.push(`${what}: ${errorMessage(err)}`);
      return fallback;
    }
  };
  const runs = (name: string) => async () => (await api.get<{ runs: RunView[] }>(c, `/tasks?name=${name}&limit=10`)).runs;
  const [dashboard, nodes, history, services, alerts, bulk, exports, recentIncidents] = await Promise.all([
    part('dashboard', () => api.get<OperationsData['dashboard']>(c, '/dashboard'), null),
    part('nodes', () => listNodes(db, 200), []),
    part('node history', () => recentNodeEvents(db, 30), []),
    part('services', () => listServices(db), []),
    part('anomalies', () => recentAnomalies(db, 20), []),
    part('bulk jobs', runs('bulk_user_operation'), []),
    part('exports', runs('export_data'), []),
    part('incidents', async (): Promise<OperationsData['incidents']> => [...(await incidents(c.env).recent(20))], null),
  ]);
  const on = capabilities(c.var.config);
  const off = Object.entries(capabilityTable)
    .filter(([name]) => !on[name as Capability])
    .map(([capability, t]) => ({ capability, variable: t.variable, what: t.what }));
  return { dashboard, nodes, history, services, alerts, bulk, exports, incidents: recentIncidents, problems, off };
}
