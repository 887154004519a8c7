import { Packr } from 'msgpackr';
import { z } from 'zod';

/** A queue message of a campaign's recipients: `[telegram id, language_code]` pairs. */
const batchSchema = z.object({
  v: z.literal(1),
  campaign: z.uuid(),
  batch: z.string().min(1),
  recipients: z.array(z.tuple([z.number().int(), z.string().nullable()])).min(1),
  /** Correlation id of the request that started the campaign, for the senders' logs. */
  cid: z.string().max(128).optional(),
});
export type RecipientBatch = z.infer<typeof batchSchema>;

const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeRecipients(batch: Omit<RecipientBatch, 'v'>): Uint8Array {
  const { cid, ...rest } = batch;
  return new Uint8Array(packr.pack(cid === undefined ? { v: 1, ...rest } : { v: 1, ...rest, cid }));
}

export function decodeRecipients(body: unknown): { ok: true; batch: RecipientBatch } | { ok: false; reason: string } {
  const bytes = body instanceof ArrayBuffer ? new Uint8Array(body) : body instanceof Uint8Array ? body : undefined;
  if (!bytes) return { ok: false, reason: 'body is not bytes' };
  try {
    const parsed = batchSchema.safeParse(packr.unpack(bytes));
    if (parsed.success) return { ok: true, batch: parsed.data };
    return { ok: false, reason: `invalid batch at ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}` };
  } catch (err) {
    return { ok: false, reason: `not msgpack: ${err instanceof Error ? err.message : String(err)}` };
  }
}
