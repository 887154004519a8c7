/**
 * Last line of defence against secrets in logs, stored errors and responses: every string that
 * leaves through the logger or an error mapper passes through `redact`. Known secret values are
 * registered when the configuration is parsed; patterns catch tokens and credentials we never saw.
 */
const secrets = new Set<string>();

const patterns: RegExp[] = [
  /\d{3,}:[A-Za-z0-9_-]{20,}/g, // Telegram bot token, e.g. inside a Bot API URL
  /(?<=\/\/)[^/\s:@]+:[^/\s@]+(?=@)/g, // user:password@ in a URL
];

/** Registers secret values (at least 6 characters) to be masked wherever they appear. */
export function registerSecrets(values: Iterable<string | undefined>): void {
  for (const value of values) if (value && value.length >= 6) secrets.add(value);
}

export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join('[redacted]');
  for (const pattern of patterns) out = out.replace(pattern, '[redacted]');
  return out;
}
