import { Packr } from 'msgpackr';
import { z } from 'zod';

/** One task run as it travels on the queue. Many envelopes share one queue message. */
const envelopeSchema = z.object({
  id: z.uuid(),
  name: z.string().min(1),
  args: z.unknown().optional(),
  /** The arguments are too large for a queue message: they travel in the run's row only (`args` is absent). */
  args_in_row: z.literal(true).optional(),
  /** The try this envelope was enqueued for; the store's `attempts` is authoritative on redelivery. */
  attempt: z.number().int().positive(),
  correlation_id: z.string().min(1),
  /** Epoch milliseconds. */
  enqueued_at: z.number(),
});
export type Envelope = z.infer<typeof envelopeSchema>;

const batchSchema = z.object({ v: z.literal(1), tasks: z.array(envelopeSchema).min(1) });

// Plain msgpack maps (no msgpackr records) so any msgpack decoder can read a message.
const packr = new Packr({ useRecords: false, moreTypes: false });

/** Messages are kept under 60 KB so each costs one 64 KB queue operation unit. */
export const MAX_MESSAGE_BYTES = 60 * 1024;
/** Envelopes per queue message. */
export const MAX_ENVELOPES_PER_MESSAGE = 100;

/** A packed batch in its own exact-size buffer (msgpackr packs into a shared, reused one). */
export function encodeBatch(tasks: Envelope[]): Uint8Array {
  return new Uint8Array(packr.pack({ v: 1, tasks }));
}

export type DecodeResult = { ok: true; tasks: Envelope[] } | { ok: false; reason: string };

/** Decodes and checks a queue message body; never throws. */
export function decodeBatch(body: unknown): DecodeResult {
  const bytes = body instanceof ArrayBuffer ? new Uint8Array(body) : body instanceof Uint8Array ? body : undefined;
  if (!bytes) return { ok: false, reason: 'body is not bytes' };
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (err) {
    return { ok: false, reason: `not msgpack: ${err instanceof Error ? err.message : String(err)}` };
  }
  const parsed = batchSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, reason: `invalid batch at ${issue?.path.join('.') || '(root)'}: ${issue?.message}` };
  }
  return { ok: true, tasks: parsed.data.tasks };
}

/** The batch map, its keys and the array header around the envelopes. */
const BATCH_OVERHEAD_BYTES = 32;

/**
 * Packs envelopes into as few messages as the limits allow (≤ 100 envelopes, ≤ 60 KB each).
 * Sizes are summed per envelope (each packed once), an upper bound of the packed batch. An envelope
 * whose arguments make it too large alone goes without them (`args_in_row`): the consumer reads
 * them from the run's row when it claims the run.
 */
export function packMessages(tasks: Envelope[]): Uint8Array[] {
  const bodies: Uint8Array[] = [];
  let current: Envelope[] = [];
  let size = BATCH_OVERHEAD_BYTES;
  for (const envelope of tasks) {
    let task = envelope;
    let bytes = packr.pack(task).byteLength;
    if (bytes + BATCH_OVERHEAD_BYTES > MAX_MESSAGE_BYTES) {
      const { args: _inRow, ...rest } = envelope;
      task = { ...rest, args_in_row: true };
      bytes = packr.pack(task).byteLength;
    }
    if (current.length === MAX_ENVELOPES_PER_MESSAGE || size + bytes > MAX_MESSAGE_BYTES) {
      bodies.push(encodeBatch(current));
      current = [];
      size = BATCH_OVERHEAD_BYTES;
    }
    current.push(task);
    size += bytes;
  }
  if (current.length) bodies.push(encodeBatch(current));
  return bodies;
}
