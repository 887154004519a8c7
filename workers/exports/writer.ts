/** R2 multipart parts must be at least 5 MiB (except the last) and all the same size. */
export const PART_SIZE = 5 * 1024 * 1024;

const encoder = new TextEncoder();

/**
 * Streams text into an R2 multipart upload in fixed 5 MiB parts: memory holds at most one part, and
 * the export never exists whole anywhere but in R2. `peakBuffered` is the most it ever held.
 */
export class PartWriter {
  readonly #upload: R2MultipartUpload;
  readonly #buffer = new Uint8Array(PART_SIZE);
  #filled = 0;
  readonly #parts: R2UploadedPart[] = [];
  bytes = 0;
  peakBuffered = 0;

  constructor(upload: R2MultipartUpload) {
    this.#upload = upload;
  }

  async write(text: string): Promise<void> {
    let data = encoder.encode(text);
    this.bytes += data.byteLength;
    while (data.byteLength) {
      const n = Math.min(data.byteLength, PART_SIZE - this.#filled);
      this.#buffer.set(data.subarray(0, n), this.#filled);
      this.#filled += n;
      this.peakBuffered = Math.max(this.peakBuffered, this.#filled);
      data = data.subarray(n);
      if (this.#filled === PART_SIZE) await this.#flush();
    }
  }

  async #flush(): Promise<void> {
    if (!this.#filled) return;
    this.#parts.push(await this.#upload.uploadPart(this.#parts.length + 1, this.#buffer.slice(0, this.#filled)));
    this.#filled = 0;
  }

  /** Uploads the last part and completes the object; returns the number of parts. */
  async close(): Promise<number> {
    await this.#flush();
    await this.#upload.complete(this.#parts);
    return this.#parts.length;
  }
}

/**
 * What a spreadsheet may read as the start of a formula or a DDE call (OWASP's CSV injection list:
 * `=` `+` `-` `@` TAB CR; and `|`, which LibreOffice takes for DDE, and NUL from the ASVS).
 */
const FORMULA_START = /^[=+\-@\t\r|\0]/;

/**
 * A CSV field: quoted when it holds a comma, quote or line break. A text that a spreadsheet would
 * take for a formula gets a leading `'`, so it opens as text; numbers (a negative amount) stay numbers.
 */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let s = value instanceof Date ? value.toISOString() : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (typeof value === 'string' && FORMULA_START.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}
