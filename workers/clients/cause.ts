import { GrammyError, HttpError } from 'grammy';
import { CircuitOpenError } from './breaker';
import { ServiceError } from './http';

/**
 * The external cause of a failure, so that every job one outage kills is one incident:
 * `outage:<service>` when the service did not answer usefully (no answer, timeout, 5xx, 429, an
 * open circuit breaker; Telegram's network errors and 5xx), `service:<service>|<code>` when it
 * answered with a refusal (4xx: a wrong token, a bad request). Undefined for the product's own failures.
 */
export function causeOf(err: unknown): string | undefined {
  if (err instanceof CircuitOpenError) return `outage:${err.service}`;
  if (err instanceof ServiceError) return err.retryable ? `outage:${err.service}` : `service:${err.service}|${err.code}`;
  if (err instanceof HttpError) return 'outage:telegram';
  if (err instanceof GrammyError && (err.error_code >= 500 || err.error_code === 429)) return 'outage:telegram';
  return undefined;
}

/** The service an `outage:` cause names, else undefined. */
export function outageService(cause: string | undefined): string | undefined {
  return cause?.startsWith('outage:') ? cause.slice('outage:'.length) : undefined;
}
