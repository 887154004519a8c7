import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';

/** The database every server has; it lives in the `public` schema. */
const DEFAULT_DATABASE = 'postgres';

/** A Postgres error as the wire and HTTP fronts report it (SQLSTATE in `code`). */
export class DatabaseError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Takes turns on one PGlite instance for many sessions (wire connections, HTTP queries).
 *
 * PGlite is a single Postgres session, so sessions take turns. The unit of a turn is a whole request:
 * a simple Query, or an extended-protocol pipeline up to its Sync (Parse/Bind/Describe/Execute/Sync),
 * so one session's unnamed statement is never replaced by another's halfway. While a session holds a
 * transaction open, only it gets turns; `end` rolls back a transaction its session left open.
 *
 * PGlite has one database; further databases (one per test file) are schemas of it, made from the
 * migrations by `createDatabase`. A turn runs with `search_path` set to its database's schema.
 */
export class PgliteSessions {
  readonly #db: PGlite;
  readonly #queue: Turn[] = [];
  readonly #databases = new Set<string>();
  #owner: object | undefined;
  #running = false;
  #schema = 'public';

  constructor(db: PGlite) {
    this.#db = db;
  }

  /** Runs `request` (whole protocol messages) for `session` when its turn comes; resolves with the reply. */
  exec(session: object, request: Uint8Array, database = DEFAULT_DATABASE): Promise<Uint8Array> {
    return this.#enqueue(session, this.schemaOf(database), (db) => db.execProtocolRaw(request, { syncToFs: false }));
  }

  /** The schema a database's sessions use; a database never created is Postgres' 3D000. */
  schemaOf(database: string): string {
    if (database === DEFAULT_DATABASE) return 'public';
    if (this.#databases.has(database)) return database;
    throw new DatabaseError('3D000', `database "${database}" does not exist`);
  }

  /** Makes database `name` (a new schema) by running `statements` (the migrations) in it. */
  async createDatabase(name: string, statements: string[]): Promise<void> {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name) || name === 'public' || name === DEFAULT_DATABASE || /^pg_/.test(name))
      throw new DatabaseError('42602', `invalid database name "${name}"`);
    if (this.#databases.has(name)) throw new DatabaseError('42P04', `database "${name}" already exists`);
    await this.#enqueue({}, 'public', async (db) => {
      await db.exec(`create schema "${name}"`);
      await db.exec(`set search_path to "${name}"`);
      this.#schema = name;
      for (const statement of statements) await db.exec(statement);
    });
    this.#databases.add(name);
  }

  #enqueue<T>(session: object, schema: string, work: (db: PGlite) => Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ session, schema, work, resolve: resolve as (v: unknown) => void, reject });
      void this.#drain();
    });
  }

  /** Forgets a session: its queued requests fail, its open transaction is rolled back. */
  async end(session: object): Promise<void> {
    for (let i = this.#queue.length - 1; i >= 0; i--) {
      const turn = this.#queue[i] as Turn;
      if (turn.session !== session) continue;
      this.#queue.splice(i, 1);
      turn.reject(new Error('session ended'));
    }
    if (this.#owner === session) {
      this.#owner = undefined;
      await this.#db.exec('rollback').catch(() => {});
    }
    void this.#drain();
  }

  async #drain(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      for (;;) {
        const index = this.#owner ? this.#queue.findIndex((t) => t.session === this.#owner) : 0;
        const turn = index >= 0 ? this.#queue.splice(index, 1)[0] : undefined;
        if (!turn) return;
        try {
          // Only between transactions: a transaction's turns are all its own session's.
          if (turn.schema !== this.#schema) {
            await this.#db.exec(`set search_path to "${turn.schema}"`);
            this.#schema = turn.schema;
          }
          const reply = await turn.work(this.#db);
          this.#owner = this.#db.isInTransaction() ? turn.session : undefined;
          turn.resolve(reply);
        } catch (err) {
          turn.reject(err);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}

/** Serves PGlite over the Postgres wire protocol; each connection is a session. */
export class PgliteWireServer {
  readonly #sessions: PgliteSessions;
  readonly #server: Server;
  readonly #connections = new Set<Connection>();

  constructor(sessions: PgliteSessions) {
    this.#sessions = sessions;
    this.#server = createServer((socket) => this.#connections.add(new Connection(socket, this)));
  }

  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => resolve());
    });
    return (this.#server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const connection of this.#connections) connection.socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Runs a request of `connection` and writes the reply back; a failed request drops the connection. */
  submit(connection: Connection, request: Uint8Array): void {
    this.#sessions.exec(connection, request, connection.database).then(
      (reply) => {
        if (!connection.socket.destroyed) connection.socket.write(reply);
      },
      (err: unknown) => {
        if (err instanceof Error && err.message !== 'session ended') console.error('pglite: request failed', err);
        connection.socket.destroy();
      },
    );
  }

  /** Starts a connection's session on `database`; false (and a FATAL error sent) when there is none. */
  open(connection: Connection, database: string): boolean {
    try {
      this.#sessions.schemaOf(database);
      return true;
    } catch (err) {
      const { code, message } = err as DatabaseError;
      connection.socket.end(errorResponse('FATAL', code, message));
      return false;
    }
  }

  /** Forgets a closed connection. */
  async disconnect(connection: Connection): Promise<void> {
    this.#connections.delete(connection);
    await this.#sessions.end(connection);
  }
}

interface Turn {
  session: object;
  schema: string;
  work(db: PGlite): Promise<unknown>;
  resolve(reply: unknown): void;
  reject(err: unknown): void;
}

/** A backend ErrorResponse message. */
function errorResponse(severity: string, code: string, message: string): Buffer {
  const fields = Buffer.from(`S${severity}\0V${severity}\0C${code}\0M${message}\0\0`, 'utf8');
  const head = Buffer.alloc(5);
  head.write('E', 0);
  head.writeInt32BE(4 + fields.length, 1);
  return Buffer.concat([head, fields]);
}

/** The `database` parameter of a StartupMessage (default: the user's name, as Postgres does). */
function startupDatabase(message: Buffer): string {
  const params = message.subarray(8).toString('utf8').split('\0');
  const get = (key: string) => {
    const i = params.findIndex((p, n) => n % 2 === 0 && p === key);
    return i >= 0 ? params[i + 1] : undefined;
  };
  return get('database') || get('user') || DEFAULT_DATABASE;
}

const SSL_REQUEST = 80877103;
const CANCEL_REQUEST = 80877102;

/** Splits one socket's bytes into whole requests. */
class Connection {
  readonly socket: Socket;
  readonly #server: PgliteWireServer;
  #buffer: Buffer = Buffer.alloc(0);
  #pending: Buffer[] = [];
  #started = false;
  /** From the StartupMessage. */
  database = DEFAULT_DATABASE;

  constructor(socket: Socket, server: PgliteWireServer) {
    this.socket = socket;
    this.#server = server;
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.#receive(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => void server.disconnect(this));
  }

  #receive(chunk: Buffer): void {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
    for (;;) {
      if (!this.#started) {
        // Startup-phase messages have no type byte: length, then a code.
        if (this.#buffer.length < 8) return;
        const length = this.#buffer.readInt32BE(0);
        if (this.#buffer.length < length) return;
        const code = this.#buffer.readInt32BE(4);
        const message = this.#take(length);
        if (code === SSL_REQUEST) this.socket.write('N');
        else if (code === CANCEL_REQUEST) this.socket.end();
        else {
          this.#started = true;
          this.database = startupDatabase(message);
          if (this.#server.open(this, this.database)) this.#server.submit(this, message);
        }
        continue;
      }
      if (this.#buffer.length < 5) return;
      const type = String.fromCharCode(this.#buffer[0] as number);
      const length = 1 + this.#buffer.readInt32BE(1);
      if (this.#buffer.length < length) return;
      const message = this.#take(length);
      if (type === 'X') {
        this.socket.end();
        return;
      }
      this.#pending.push(message);
      // A request ends with Query, Sync or Flush; password messages during auth stand alone.
      if (type === 'Q' || type === 'S' || type === 'H' || type === 'p') {
        this.#server.submit(this, Buffer.concat(this.#pending));
        this.#pending = [];
      }
    }
  }

  #take(length: number): Buffer {
    const message = this.#buffer.subarray(0, length);
    this.#buffer = this.#buffer.subarray(length);
    return Buffer.from(message);
  }
}
