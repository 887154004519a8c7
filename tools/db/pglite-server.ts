import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';

/**
 * Takes turns on one PGlite instance for many sessions (wire connections, HTTP queries).
 *
 * PGlite is a single Postgres session, so sessions take turns. The unit of a turn is a whole request:
 * a simple Query, or an extended-protocol pipeline up to its Sync (Parse/Bind/Describe/Execute/Sync),
 * so one session's unnamed statement is never replaced by another's halfway. While a session holds a
 * transaction open, only it gets turns; `end` rolls back a transaction its session left open.
 */
export class PgliteSessions {
  readonly #db: PGlite;
  readonly #queue: Turn[] = [];
  #owner: object | undefined;
  #running = false;

  constructor(db: PGlite) {
    this.#db = db;
  }

  /** Runs `request` (whole protocol messages) for `session` when its turn comes; resolves with the reply. */
  exec(session: object, request: Uint8Array): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ session, request, resolve, reject });
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
          const reply = await this.#db.execProtocolRaw(turn.request, { syncToFs: false });
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
    this.#sessions.exec(connection, request).then(
      (reply) => {
        if (!connection.socket.destroyed) connection.socket.write(reply);
      },
      (err: unknown) => {
        if (err instanceof Error && err.message !== 'session ended') console.error('pglite: request failed', err);
        connection.socket.destroy();
      },
    );
  }

  /** Forgets a closed connection. */
  async disconnect(connection: Connection): Promise<void> {
    this.#connections.delete(connection);
    await this.#sessions.end(connection);
  }
}

interface Turn {
  session: object;
  request: Uint8Array;
  resolve(reply: Uint8Array): void;
  reject(err: unknown): void;
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
          this.#server.submit(this, message);
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
