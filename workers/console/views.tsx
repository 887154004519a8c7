import type { Child, FC } from 'hono/jsx';
import type { CampaignJson, CampaignListItem } from '../campaigns/campaigns.routes';
import { campaignActions, statusesAllowing } from '../campaigns/lifecycle';
import type { RunJson } from '../tasks/tasks.routes';

/** A campaign as the API answers it: the full JSON on its page, the list's subset in the list. */
export type CampaignView = CampaignListItem & Partial<Pick<CampaignJson, 'pending'>>;
export type RunView = RunJson;

const pages = [
  ['campaigns', 'Campaigns'],
  ['tasks', 'Tasks'],
  ['operations', 'Operations'],
  ['api', 'API reference'],
] as const;
type Page = (typeof pages)[number][0];

/** Hidden field every form of a session carries; a POST without it is refused. */
const Csrf: FC<{ token: string }> = ({ token }) => <input type="hidden" name="_csrf" value={token} />;

const Layout: FC<{ title: string; page?: Page; csrf?: string; notice?: string; error?: string; children?: Child }> = (p) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{`${p.title} · Flarecast`}</title>
      <link rel="icon" href="/admin/static/favicon.svg" />
      <link rel="stylesheet" href="/admin/static/console.css" />
      <script src="/admin/static/console.js" defer />
    </head>
    <body>
      <header>
        <strong>Flarecast</strong>
        {p.csrf !== undefined && (
          <nav>
            {pages.map(([key, label]) => (
              <a href={`/admin/${key}`} aria-current={p.page === key ? 'page' : undefined}>
                {label}
              </a>
            ))}
            <form method="post" action="/admin/logout">
              <Csrf token={p.csrf} />
              <button type="submit" class="link">
                Sign out
              </button>
            </form>
          </nav>
        )}
      </header>
      <main>
        {p.notice && (
          <p class="notice" role="status">
            {p.notice}
          </p>
        )}
        {p.error && (
          <p class="error" role="alert">
            {p.error}
          </p>
        )}
        {p.children}
      </main>
    </body>
  </html>
);

/** A refusal as a page: what went wrong, and the way on. */
export const ErrorPage: FC<{ csrf?: string; status: number; message: string; signedIn: boolean }> = (p) => (
  <Layout title={`Error ${p.status}`} csrf={p.csrf}>
    <h1>Error {p.status}</h1>
    <p class="error" role="alert">
      {p.message}
    </p>
    <p>{p.signedIn ? <a href="/admin/campaigns">Back to the campaigns</a> : <a href="/admin/login">Sign in</a>}</p>
  </Layout>
);

export const LoginPage: FC<{ csrf: string; error?: string }> = ({ csrf, error }) => (
  <Layout title="Sign in" error={error}>
    <h1>Sign in</h1>
    <form method="post" action="/admin/login" class="card narrow">
      <Csrf token={csrf} />
      <label>
        Admin token
        <input type="password" name="token" autocomplete="current-password" required />
      </label>
      <button type="submit">Sign in</button>
    </form>
  </Layout>
);

function processed(c: Pick<CampaignView, 'sent' | 'failed' | 'blocked' | 'unknown'>): number {
  return c.sent + c.failed + c.blocked + c.unknown;
}

function percent(c: CampaignView): number {
  if (c.total === 0) return c.status === 'completed' ? 100 : 0;
  return Math.floor((processed(c) / c.total) * 100);
}

/** A live progress bar: the console script updates every `data-field` from the campaign's event stream. */
const Progress: FC<{ c: CampaignView }> = ({ c }) => (
  <span class="progress">
    <progress data-field="progress" max={Math.max(c.total, 1)} value={c.total === 0 ? (c.status === 'completed' ? 1 : 0) : processed(c)} />
    <span data-field="percent">{percent(c)}%</span>
  </span>
);

const live = (c: CampaignView) => c.status === 'running' || c.status === 'paused' || c.status === 'scheduled';

export const CampaignsPage: FC<{
  csrf: string;
  campaigns: CampaignView[];
  next: string | null;
  form: Record<string, string>;
  error?: string;
}> = (p) => (
  <Layout title="Campaigns" page="campaigns" csrf={p.csrf} error={p.error}>
    <h1>Campaigns</h1>
    <table>
      <thead>
        <tr>
          <th>Title</th>
          <th>Status</th>
          <th>Progress</th>
          <th>Sent / total</th>
          <th>Rate</th>
          <th>Created</th>
        </tr>
      </thead>
      <tbody>
        {p.campaigns.map((c) => (
          <tr data-campaign={c.id} data-status={c.status} data-events={live(c) ? `/admin/campaigns/${c.id}/events` : undefined}>
            <td>
              <a href={`/admin/campaigns/${c.id}`}>{c.title}</a>
            </td>
            <td data-field="status">{c.status}</td>
            <td>
              <Progress c={c} />
            </td>
            <td>
              <span data-field="sent">{c.sent}</span> / <span data-field="total">{c.total}</span>
            </td>
            <td>
              {c.rate_per_second}/s{c.paid_broadcast ? ' (paid)' : ''}
            </td>
            <td>{c.created_at.slice(0, 16).replace('T', ' ')}</td>
          </tr>
        ))}
      </tbody>
    </table>
    {p.next && <a href={`/admin/campaigns?cursor=${p.next}`}>Older campaigns →</a>}
    <CampaignForm csrf={p.csrf} values={p.form} />
  </Layout>
);

const CampaignForm: FC<{ csrf: string; values: Record<string, string> }> = ({ csrf, values: v }) => (
  <form method="post" action="/admin/campaigns" class="card" id="new-campaign">
    <h2>New campaign</h2>
    <Csrf token={csrf} />
    <label>
      Title <input name="title" required maxlength={200} value={v.title} />
    </label>
    <fieldset>
      <legend>Message</legend>
      <label>
        <input type="radio" name="kind" value="text" checked={v.kind !== 'copy'} /> Text
      </label>
      <label>
        <input type="radio" name="kind" value="copy" checked={v.kind === 'copy'} /> Copy a message
      </label>
      <label>
        Text (default language){' '}
        <textarea name="text" rows={4}>
          {v.text}
        </textarea>
      </label>
      <label>
        Parse mode
        <select name="parse_mode">
          {['', 'HTML', 'MarkdownV2'].map((m) => (
            <option value={m} selected={v.parse_mode === m}>
              {m || 'plain text'}
            </option>
          ))}
        </select>
      </label>
      <div class="row">
        <label>
          Copy from chat id <input name="copy_from_chat_id" inputmode="numeric" value={v.copy_from_chat_id} />
        </label>
        <label>
          Message id <input name="copy_message_id" inputmode="numeric" value={v.copy_message_id} />
        </label>
      </div>
      {[1, 2].map((i) => (
        <div class="row">
          <label>
            Variant language <input name={`variant_language_${i}`} placeholder="ru" maxlength={16} value={v[`variant_language_${i}`]} />
          </label>
          <label class="grow">
            Variant text{' '}
            <textarea name={`variant_text_${i}`} rows={2}>
              {v[`variant_text_${i}`]}
            </textarea>
          </label>
        </div>
      ))}
    </fieldset>
    <div class="row">
      <label>
        Audience languages <input name="audience_languages" placeholder="all active users; or e.g. ru, en" value={v.audience_languages} />
      </label>
      <label>
        Rate (messages/s) <input name="rate_per_second" inputmode="numeric" placeholder="the bot's limit" value={v.rate_per_second} />
      </label>
      <label>
        <input type="checkbox" name="paid_broadcast" checked={v.paid_broadcast === 'on'} /> Paid broadcast
      </label>
      <label>
        Schedule (UTC) <input type="datetime-local" name="scheduled_at" value={v.scheduled_at} />
      </label>
    </div>
    <button type="submit">Create draft</button>
  </form>
);

/** Each action and the statuses it applies to (the lifecycle's table); the script shows only those of the live status. */
const actions = campaignActions.map((action) => [action, statusesAllowing(action)] as const);

export const CampaignPage: FC<{ csrf: string; c: CampaignView; notice?: string; error?: string }> = ({ csrf, c, notice, error }) => (
  <Layout title={c.title} page="campaigns" csrf={csrf} notice={notice} error={error}>
    <section class="campaign" data-campaign={c.id} data-status={c.status} data-events={`/admin/campaigns/${c.id}/events`}>
      <h1>
        {c.title}{' '}
        <span class="badge" data-field="status">
          {c.status}
        </span>
      </h1>
      <Progress c={c} />
      <dl class="counters">
        {(['total', 'sent', 'failed', 'blocked', 'unknown', 'pending'] as const).map((k) => (
          <div>
            <dt>{k}</dt>
            <dd data-field={k}>{c[k] ?? 0}</dd>
          </div>
        ))}
        <div>
          <dt>rate</dt>
          <dd>
            {c.rate_per_second}/s{c.paid_broadcast ? ' paid' : ''}
          </dd>
        </div>
        <div>
          <dt>audience</dt>
          <dd>{c.audience.language_codes?.join(', ') ?? 'everyone'}</dd>
        </div>
      </dl>
      <figure>
        <svg data-chart viewBox="0 0 600 120" preserveAspectRatio="none" role="img" aria-label="send rate">
          <line data-limit x1="0" x2="600" y1="5" y2="5" />
          <polyline data-line points="" />
        </svg>
        <figcaption>
          Send rate: <span data-field="rate">0</span> msg/s now; dashed: the limit, {c.rate_per_second}/s (one point a second)
        </figcaption>
      </figure>
      <div class="actions">
        {actions.map(([action, when]) => (
          <form
            method="post"
            action={`/admin/campaigns/${c.id}/${action}`}
            data-when={when.join(' ')}
            hidden={!when.includes(c.status)}
            data-confirm={action === 'cancel' ? 'Cancel this campaign?' : undefined}
          >
            <Csrf token={csrf} />
            <button type="submit" name="action" value={action} class={action === 'cancel' ? 'danger' : undefined}>
              {action[0]?.toUpperCase()}
              {action.slice(1)}
            </button>
          </form>
        ))}
      </div>
    </section>
    <form method="post" action={`/admin/campaigns/${c.id}/preview`} class="card narrow">
      <h2>Preview</h2>
      <Csrf token={csrf} />
      <label>
        Chat id <input name="chat_id" inputmode="numeric" required />
      </label>
      <label>
        Language <input name="language_code" placeholder="default" maxlength={16} />
      </label>
      <button type="submit">Send preview</button>
    </form>
  </Layout>
);

function short(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = JSON.stringify(value);
  return text.length > 160 ? `${text.slice(0, 157)}…` : text;
}

export const TasksPage: FC<{
  csrf: string;
  runs: RunView[];
  names: string[];
  filter: { name?: string; status?: string };
  next: string | null;
  notice?: string;
  error?: string;
}> = (p) => (
  <Layout title="Tasks" page="tasks" csrf={p.csrf} notice={p.notice} error={p.error}>
    <h1>Task runs</h1>
    <form method="get" action="/admin/tasks" class="row filter">
      <label>
        Task
        <select name="name">
          <option value="">all</option>
          {p.names.map((n) => (
            <option value={n} selected={p.filter.name === n}>
              {n}
            </option>
          ))}
        </select>
      </label>
      <label>
        Status
        <select name="status">
          <option value="">all</option>
          {['queued', 'running', 'succeeded', 'failed', 'dead'].map((s) => (
            <option value={s} selected={p.filter.status === s}>
              {s}
            </option>
          ))}
        </select>
      </label>
      <button type="submit">Filter</button>
    </form>
    <table>
      <thead>
        <tr>
          <th>Task</th>
          <th>Status</th>
          <th>Attempts</th>
          <th>Error / result</th>
          <th>Created</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {p.runs.map((r) => (
          <tr data-run={r.id} data-status={r.status}>
            <td>
              {r.name}
              <br />
              <small title="correlation id">{r.correlation_id}</small>
            </td>
            <td>
              <span class={`badge ${r.status}`}>{r.status}</span>
            </td>
            <td>
              {r.attempts}/{r.max_attempts}
            </td>
            <td>
              {r.error ? <span class="error-text">{r.error}</span> : <code>{short(r.result ?? r.progress)}</code>}
              {r.history.length > 0 && (
                <details>
                  <summary>{r.history.length} attempt(s)</summary>
                  <ol>
                    {r.history.map((h) => (
                      <li>
                        {h.started_at.slice(11, 19)}–{h.finished_at.slice(11, 19)}{' '}
                        {h.error ? `${h.error_type ?? 'Error'}: ${h.error}` : 'ok'}
                      </li>
                    ))}
                  </ol>
                </details>
              )}
            </td>
            <td>{r.created_at.slice(0, 19).replace('T', ' ')}</td>
            <td>
              {r.status === 'dead' && (
                <form method="post" action={`/admin/tasks/${r.id}/rekick`}>
                  <Csrf token={p.csrf} />
                  <button type="submit">Re-kick</button>
                </form>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
    {p.next && (
      <a
        href={`/admin/tasks?${new URLSearchParams(Object.entries({ ...p.filter, cursor: p.next }).filter((e): e is [string, string] => !!e[1]))}`}
      >
        Older runs →
      </a>
    )}
  </Layout>
);

export interface OperationsData {
  /** Null when the dashboard object could not be read. */
  dashboard: {
    at: string;
    online_users: number;
    bandwidth_bytes_5m: number;
    active_servers: number;
    servers: number;
    last_event?: string | null;
    errors?: string[];
  } | null;
  nodes: { uuid: string; name: string; status: string; since: Date; checkedAt: Date; escalated: boolean }[];
  history: { node: string | null; from: string | null; to: string; source: string; at: Date }[];
  services: { service: string; down: boolean; failures: number; lastError: string | null; changedAt: Date }[];
  alerts: { kind: string; active: boolean; value: number | null; changedAt: Date }[];
  bulk: RunView[];
  exports: RunView[];
  /** Incidents of the last day (`outage:<service>`, or `where|type|message`), each alerted once; null when the ledger could not be read. */
  incidents: { key: string; severity: string; openedAt: number; lastAt: number; occurrences: number; resolvedAt: number | null }[] | null;
  /** Parts that could not be read (the others still show). */
  problems: string[];
  /** Optional capabilities that are not configured: their jobs are skipped, not failing. */
  off: { capability: string; variable: string; what: string }[];
}

const when = (d: Date | string) => (typeof d === 'string' ? d : d.toISOString()).slice(0, 19).replace('T', ' ');

export const OperationsPage: FC<{ csrf: string; data: OperationsData }> = ({ csrf, data: d }) => (
  <Layout title="Operations" page="operations" csrf={csrf}>
    <h1>Operations</h1>
    {d.problems.length > 0 && <p class="error">Could not read: {d.problems.join('; ')}</p>}
    {d.off.length > 0 && (
      <section data-off>
        <h2>Switched off</h2>
        <ul class="plain">
          {d.off.map((o) => (
            <li>
              <span class="badge maintenance">off</span> {o.what} — set <code>{o.variable}</code> to turn it on; its jobs are skipped
            </li>
          ))}
        </ul>
      </section>
    )}
    {d.dashboard && (
      <section class="cards" data-events="/admin/dashboard/events">
        <div class="card">
          <small>Online users</small>
          <b data-field="online_users">{d.dashboard.online_users}</b>
        </div>
        <div class="card">
          <small>Bandwidth, last 5 min</small>
          <b>{(d.dashboard.bandwidth_bytes_5m / 1048576).toFixed(1)} MiB</b>
        </div>
        <div class="card">
          <small>Active servers</small>
          <b>
            <span data-field="active_servers">{d.dashboard.active_servers}</span> / <span data-field="servers">{d.dashboard.servers}</span>
          </b>
        </div>
        <div class="card">
          <small>Latest node change (live)</small>
          <b data-field="last_event">{d.dashboard.last_event ?? '—'}</b>
        </div>
        <div class="card">
          <small>Snapshot at</small>
          <b>{when(d.dashboard.at)}</b>
        </div>
      </section>
    )}
    {d.dashboard?.errors?.length ? <p class="error">Snapshot incomplete: {d.dashboard.errors.join('; ')}</p> : null}
    <h2>Nodes</h2>
    <table>
      <thead>
        <tr>
          <th>Node</th>
          <th>Status</th>
          <th>Since</th>
          <th>Checked</th>
        </tr>
      </thead>
      <tbody>
        {d.nodes.map((n) => (
          <tr>
            <td>{n.name}</td>
            <td>
              <span class={`badge ${n.status}`}>{n.status}</span>
              {n.escalated ? ' CRITICAL' : ''}
            </td>
            <td>{when(n.since)}</td>
            <td>{when(n.checkedAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
    <details>
      <summary>Node history (last {d.history.length} changes)</summary>
      <ul>
        {d.history.map((h) => (
          <li>
            {when(h.at)} {h.node ?? 'a removed node'}: {h.from ?? 'new'} → {h.to} ({h.source})
          </li>
        ))}
      </ul>
    </details>
    <h2>Services and alerts</h2>
    <ul class="plain">
      {d.services.map((s) => (
        <li>
          <span class={`badge ${s.down ? 'offline' : 'online'}`}>{s.down ? 'down' : 'up'}</span> {s.service}
          {s.failures > 0 && ` — ${s.failures} failure(s) in a row: ${s.lastError ?? ''}`} <small>since {when(s.changedAt)}</small>
        </li>
      ))}
      {d.alerts.map((a) => (
        <li>
          <span class={`badge ${a.active ? 'offline' : 'online'}`}>{a.active ? 'alert' : 'resolved'}</span> {a.kind}
          {a.value !== null && ` = ${a.value}`} <small>at {when(a.changedAt)}</small>
        </li>
      ))}
    </ul>
    <h2>Incidents</h2>
    <ul class="plain" data-incidents>
      {d.incidents?.length === 0 && <li>No critical failure in the last day.</li>}
      {d.incidents?.map((i) => {
        const [where, type, ...message] = i.key.split('|');
        return (
          <li>
            <span class="badge offline">{i.occurrences}×</span> <b>{i.severity.toUpperCase()}</b> {where}
            {type ? ': ' : ''}
            <b>{type}</b> {message.join('|')}{' '}
            <small>
              first {when(new Date(i.openedAt))}, last {when(new Date(i.lastAt))}
              {i.resolvedAt ? `, resolved ${when(new Date(i.resolvedAt))}` : ''}
            </small>
          </li>
        );
      })}
    </ul>
    <h2>Bulk jobs</h2>
    <RunTable runs={d.bulk} live={(r) => `/admin/bulk/${r.id}/events`} />
    <h2>Exports</h2>
    <RunTable runs={d.exports} />
  </Layout>
);

/** Task runs with their progress; `live` names the event stream of a running one (bulk jobs). */
const RunTable: FC<{ runs: RunView[]; live?: (run: RunView) => string | undefined }> = ({ runs, live }) => (
  <table>
    <tbody>
      {runs.map((r) => {
        const progress = (r.progress ?? {}) as { done?: number; total?: number };
        const url = (r.result as { url?: string } | null)?.url;
        const events = r.status === 'queued' || r.status === 'running' ? live?.(r) : undefined;
        return (
          <tr data-run={r.id} data-events={events} data-kind={events ? 'bulk' : undefined}>
            <td>{when(r.created_at)}</td>
            <td>
              <span class={`badge ${r.status}`} data-field="status">
                {r.status}
              </span>
            </td>
            <td>
              <progress data-field="progress" max={Math.max(progress.total ?? progress.done ?? 1, 1)} value={progress.done ?? 0} />{' '}
              <span data-field="percent">
                {progress.total ? `${Math.floor(((progress.done ?? 0) / progress.total) * 100)}%` : (progress.done ?? 0)}
              </span>
            </td>
            <td>
              {url && /^https?:\/\//.test(url) ? <a href={url}>download</a> : r.error ? <span class="error-text">{r.error}</span> : null}
            </td>
          </tr>
        );
      })}
    </tbody>
  </table>
);

type OpenApiOperation = {
  summary?: string;
  parameters?: { name: string; in: string; required?: boolean; schema?: unknown }[];
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { description?: string }>;
};

/** The OpenAPI document of `/api/openapi.json`, rendered: one entry per operation. */
export interface OpenApiDoc {
  info: { title: string; version: string };
  paths: Record<string, Record<string, OpenApiOperation>>;
  components?: { schemas?: Record<string, unknown> };
}

export const ApiReferencePage: FC<{ csrf: string; doc: OpenApiDoc }> = ({ csrf, doc }) => (
  <Layout title="API reference" page="api" csrf={csrf}>
    <h1>
      {doc.info.title} <small>{doc.info.version}</small>
    </h1>
    <p>
      Every route takes <code>Authorization: Bearer &lt;ADMIN_API_TOKEN&gt;</code>. The machine-readable document is{' '}
      <code>GET /api/openapi.json</code> (OpenAPI 3.1).
    </p>
    {Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => (
        <section class="operation card" id={`${method}-${path}`}>
          <h2>
            <span class={`method ${method}`}>{method.toUpperCase()}</span> <code>/api{path}</code>
          </h2>
          <p>{op.summary}</p>
          {op.parameters?.length ? (
            <ul>
              {op.parameters.map((param) => (
                <li>
                  <code>{param.name}</code> in {param.in}
                  {param.required ? ', required' : ''}: <code>{JSON.stringify(param.schema)}</code>
                </li>
              ))}
            </ul>
          ) : null}
          {op.requestBody?.content &&
            Object.entries(op.requestBody.content).map(([type, body]) => (
              <details>
                <summary>Request body ({type})</summary>
                <pre>{JSON.stringify(body.schema, null, 2)}</pre>
              </details>
            ))}
          <p>
            Responses:{' '}
            {Object.entries(op.responses ?? {}).map(([code, r]) => (
              <span class="response" title={r.description}>
                {code}{' '}
              </span>
            ))}
          </p>
        </section>
      )),
    )}
    <h2>Schemas</h2>
    {Object.entries(doc.components?.schemas ?? {}).map(([name, schema]) => (
      <details id={`schema-${name}`}>
        <summary>{name}</summary>
        <pre>{JSON.stringify(schema, null, 2)}</pre>
      </details>
    ))}
  </Layout>
);
