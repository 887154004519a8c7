/** A Bot API MessageEntity; offsets and lengths are in UTF-16 code units, as in the real API. */
interface MessageEntity {
  type: string;
  offset: number;
  length: number;
  url?: string;
  language?: string;
  custom_emoji_id?: string;
  user?: { id: number; is_bot: boolean; first_name: string };
}

/** Result of {@link parseHtml}: the visible text and its entities, or the real API's parse error detail. */
export type ParsedText = { ok: true; text: string; entities: MessageEntity[] } | { ok: false; error: string };

const SIMPLE: Record<string, string> = {
  b: 'bold',
  strong: 'bold',
  i: 'italic',
  em: 'italic',
  u: 'underline',
  ins: 'underline',
  s: 'strikethrough',
  strike: 'strikethrough',
  del: 'strikethrough',
  'tg-spoiler': 'spoiler',
};
const SUPPORTED = new Set([...Object.keys(SIMPLE), 'a', 'code', 'pre', 'span', 'blockquote', 'tg-emoji']);
const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"' };

interface Open {
  tag: string;
  attrs: Record<string, string>;
  offset: number;
  /** Set by a `<code class="language-x">` directly inside `<pre>`, which Telegram folds into the pre entity. */
  language?: string;
}

/** Byte offsets in error messages are UTF-8 offsets into the source, like the real API reports them. */
function byteOffset(src: string, index: number): number {
  return Buffer.byteLength(src.slice(0, index), 'utf8');
}

/** Index of the `>` closing a tag, skipping quoted attribute values (an href may contain `>`); -1 if none. */
function tagEnd(src: string, from: number): number {
  const m = /^[^>"']*(?:(?:"[^"]*"|'[^']*')[^>"']*)*>/.exec(src.slice(from));
  return m ? from + m[0].length - 1 : -1;
}

function parseAttrs(raw: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const m of raw.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    const name = m[1];
    if (name) attrs[name.toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return attrs;
}

function decodeEntities(s: string): string {
  return s.replace(/&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);/g, (whole, body: string) => {
    if (body.startsWith('#x') || body.startsWith('#X')) return String.fromCodePoint(Number.parseInt(body.slice(2), 16));
    if (body.startsWith('#')) return String.fromCodePoint(Number.parseInt(body.slice(1), 10));
    return NAMED[body.toLowerCase()] ?? whole;
  });
}

/**
 * Parses Telegram's HTML subset the way the Bot API does for `parse_mode: 'HTML'`: supported tags become
 * entities, `&lt; &gt; &amp; &quot;` and numeric entities are decoded, and unknown or unbalanced tags fail with
 * the real server's wording (prefix it with `Bad Request: can't parse entities: `).
 */
export function parseHtml(src: string): ParsedText {
  let out = '';
  const stack: Open[] = [];
  const entities: MessageEntity[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i];
    if (ch === '&') {
      const m = /^&(#\d{1,7}|#x[0-9a-fA-F]{1,6}|lt|gt|amp|quot);/i.exec(src.slice(i, i + 12));
      if (m) {
        out += decodeEntities(m[0]);
        i += m[0].length;
      } else {
        out += '&';
        i += 1;
      }
      continue;
    }
    if (ch !== '<') {
      out += ch;
      i += 1;
      continue;
    }
    // Same scan as TDLib: the tag name is a run of letters, digits and dashes right after `<` or `</`.
    const isEnd = src[i + 1] === '/';
    const nameStart = i + (isEnd ? 2 : 1);
    const tag = (/^[a-zA-Z0-9-]*/.exec(src.slice(nameStart, nameStart + 64))?.[0] ?? '').toLowerCase();
    const close = tagEnd(src, nameStart);
    if (isEnd) {
      if (close === -1) return { ok: false, error: `Unclosed end tag at byte offset ${byteOffset(src, i)}` };
      const top = stack.pop();
      if (!top) return { ok: false, error: `Unexpected end tag at byte offset ${byteOffset(src, i)}` };
      const name = src.slice(nameStart, close).trim().toLowerCase();
      if (name !== top.tag && name !== '') {
        return { ok: false, error: `Unmatched end tag at byte offset ${byteOffset(src, i)}, expected "</${top.tag}>", found "</${name}>"` };
      }
      const entity = toEntity(top, out.length, stack[stack.length - 1]);
      if (entity && entity.length > 0) entities.push(entity);
      i = close + 1;
      continue;
    }
    if (!SUPPORTED.has(tag)) return { ok: false, error: `Unsupported start tag "${tag}" at byte offset ${byteOffset(src, i)}` };
    if (close === -1) return { ok: false, error: `Unclosed start tag at byte offset ${byteOffset(src, i)}` };
    const attrs = parseAttrs(src.slice(nameStart + tag.length, close));
    if (tag === 'span' && attrs.class !== 'tg-spoiler') return { ok: false, error: 'Tag "span" must have class "tg-spoiler"' };
    if (tag === 'tg-emoji' && !attrs['emoji-id']) return { ok: false, error: 'Custom emoji entity must contain a tg://emoji URL' };
    stack.push({ tag, attrs, offset: out.length });
    i = close + 1;
  }
  const unclosed = stack.pop();
  if (unclosed) return { ok: false, error: `Can't find end tag corresponding to start tag "${unclosed.tag}"` };
  entities.sort((a, b) => a.offset - b.offset || b.length - a.length);
  return { ok: true, text: out, entities };
}

function toEntity(open: Open, end: number, parent: Open | undefined): MessageEntity | undefined {
  const base = { offset: open.offset, length: end - open.offset };
  const simple = SIMPLE[open.tag];
  if (simple) return { type: simple, ...base };
  switch (open.tag) {
    case 'span':
      return { type: 'spoiler', ...base };
    case 'a': {
      const href = open.attrs.href;
      if (!href) return undefined;
      const mention = /^tg:\/\/user\?id=(\d+)$/.exec(href);
      if (mention) return { type: 'text_mention', ...base, user: { id: Number(mention[1]), is_bot: false, first_name: 'User' } };
      return { type: 'text_link', ...base, url: href };
    }
    case 'code': {
      const language = /^language-(.+)$/.exec(open.attrs.class ?? '')?.[1];
      if (parent?.tag === 'pre' && parent.offset === open.offset) {
        if (language) parent.language = language;
        return undefined;
      }
      return { type: 'code', ...base };
    }
    case 'pre':
      return open.language ? { type: 'pre', ...base, language: open.language } : { type: 'pre', ...base };
    case 'blockquote':
      return { type: 'expandable' in open.attrs ? 'expandable_blockquote' : 'blockquote', ...base };
    case 'tg-emoji':
      return { type: 'custom_emoji', ...base, custom_emoji_id: open.attrs['emoji-id'] ?? '' };
    default:
      return undefined;
  }
}
