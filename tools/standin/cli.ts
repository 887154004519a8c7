/** Running a stand-in on its own: `node tools/<service>/stand-in.ts [--port p] [--host h] [--token t] [--latency 40|25-55] ...`. */
import { parseArgs } from 'node:util';
import { type Latency, parseLatency } from './latency.ts';

/** The options every stand-in takes on its command line; absent ones are left out. */
interface CommonArgs {
  port: number;
  host?: string;
  token?: string;
  latencyMs?: Latency;
}

interface Running {
  url: string;
  close(): Promise<void>;
}

export interface StandInCli<S extends Running> {
  /** First word of the banner: `<name> stand-in listening on <url>` (scripts wait for "listening"). */
  name: string;
  /** Default of --port. */
  port: number;
  /** The stand-in's own options (all strings), besides --port, --host, --token and --latency; a default may be given. */
  options?: Record<string, { default?: string }>;
  start(common: CommonArgs, own: Record<string, string | undefined>): Promise<S>;
  /** Added to the banner in parentheses, e.g. the token. */
  note?(standIn: S): string;
}

/** A numeric option: undefined when absent. */
export function numberArg(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Number(value);
}

/** Parses the command line, starts the stand-in, prints where it listens, and closes it on Ctrl-C or SIGTERM. */
export async function runCli<S extends Running>(cli: StandInCli<S>, args = process.argv.slice(2)): Promise<S> {
  const own = Object.fromEntries(Object.entries(cli.options ?? {}).map(([name, o]) => [name, { type: 'string' as const, ...o }]));
  const { values } = parseArgs({
    args,
    options: {
      ...own,
      port: { type: 'string', default: String(cli.port) },
      host: { type: 'string' },
      token: { type: 'string' },
      latency: { type: 'string' },
    },
  });
  const { port, host, token, latency, ...rest } = values as Record<string, string | undefined>;
  const common: CommonArgs = { port: Number(port) };
  if (host !== undefined) common.host = host;
  if (token !== undefined) common.token = token;
  if (latency !== undefined) common.latencyMs = parseLatency(latency);
  const standIn = await cli.start(common, rest);
  const note = cli.note?.(standIn);
  console.log(`${cli.name} stand-in listening on ${standIn.url}${note ? ` (${note})` : ''}`);
  const stop = () => {
    void standIn.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return standIn;
}
