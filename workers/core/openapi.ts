import { z } from '@hono/zod-openapi';

/** The JSON error every route answers with (`workers/core/errors.ts`). */
export const errorSchema = z.object({ error: z.string(), message: z.string(), field: z.string().optional() }).openapi('Error');

/** A JSON response of `schema` for a route's `responses`. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({ content: { 'application/json': { schema } }, description });

/**
 * A moment as the API takes it: ISO 8601 with an offset, in the years 1970–9999 (Postgres refuses
 * year 0, which the ISO format allows, and no schedule lies before 1970).
 */
export const instant = () =>
  z.iso.datetime({ offset: true }).refine((s) => {
    const year = new Date(s).getUTCFullYear();
    return year >= 1970 && year <= 9999;
  }, 'a time in the years 1970–9999');

/** What every admin API route may answer besides its own responses. */
export const errors = {
  400: json(errorSchema, 'Invalid request; `field` names the offending field'),
  401: json(errorSchema, 'Missing or wrong bearer token'),
};
