import { Packr } from 'msgpackr';
import { z } from 'zod';
import type { Recipient } from '../../durable-objects/campaign/ledger';

/**
 * A recipients message: one queue message of a campaign's recipients, `[telegram id, language_code]`
 * pairs. `batch` is the message's id (the exchange and the ledger's `batches` table key it so).
 */
const recipientsMessageSchema = z.object({
  v: z.literal(1),
  campaign: z.uuid(),
  batch: z.string().min(1),
  recipients: z.array(z.tuple([z.number().int(), z.string().nullable()])).min(1),
  /** Correlation id of the request that started the campaign, for the senders' logs. */
  cid: z.string().max(128).optional(),
});
export type RecipientsMessage = z.infer<typeof recipientsMessageSchema>;

const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeRecipients(message: Omit<RecipientsMessage, 'v'>): Uint8Array {
  const { cid, ...rest } = message;
  return new Uint8Array(packr.pack(cid === undefined ? { v: 1, ...rest } : { v: 1, ...rest, cid }));
}

/** The recipients a message carries, as the campaign's ledger names them. */
export function recipientsOf(message: RecipientsMessage): Recipient[] {
  return message.recipients.map(([id, lang]) => ({ id, lang }));
}

export function decodeRecipients(body: unknown): { ok: true; message: RecipientsMessage } | { ok: false; reason: string } {
  const bytes = body instanceof ArrayBuffer ? new Uint8Array(body) : body instanceof Uint8Array ? body : undefined;
  if (!bytes) return { ok: false, reason: 'body is not bytes' };
  try {
    const parsed = recipientsMessageSchema.safeParse(packr.unpack(bytes));
    if (parsed.success) return { ok: true, message: parsed.data };
    return {
      ok: false,
      reason: `invalid recipients message at ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`,
    };
  } catch (err) {
    return { ok: false, reason: `not msgpack: ${err instanceof Error ? err.message : String(err)}` };
  }
}
