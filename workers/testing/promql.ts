/**
 * Enough of Prometheus to evaluate `deploy/alerts.yml` against recorded scrapes of `/metrics` in a
 * test: instant selectors with label matchers, `increase`/`rate`/`delta` over a range (from the first
 * and last scrape in it, no extrapolation), `sum [by (...)]`, `clamp_min`, arithmetic and comparisons
 * (one-to-one on equal label sets), and a rule's `for` (the condition held at every scrape within it).
 */

type Labels = Record<string, string>;
interface Sample {
  name: string;
  labels: Labels;
  value: number;
}
/** One scrape of the text format, `at` seconds into the recording. */
export interface Scrape {
  at: number;
  samples: Sample[];
}
export interface Point {
  labels: Labels;
  value: number;
}
export interface Rule {
  alert: string;
  expr: string;
  /** Seconds the condition must hold. */
  forSeconds: number;
}

/** Parses the Prometheus text exposition format (comments skipped, histogram series by their suffixed names). */
export function parseScrape(text: string, at: number): Scrape {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample: ${line}`);
    const labels: Labels = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return { at, samples };
}

/** The rules of an alerts file as `deploy/alerts.yml` writes them (inline or `>-` folded `expr`). */
export function parseRules(yaml: string): Rule[] {
  const rules: Rule[] = [];
  const lines = yaml.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const alert = /^\s*- alert: (\S+)/.exec(lines[i] as string);
    if (!alert) continue;
    const rule: Rule = { alert: alert[1] as string, expr: '', forSeconds: 0 };
    for (let j = i + 1; j < lines.length && !/^\s*- alert:/.test(lines[j] as string); j++) {
      const line = lines[j] as string;
      const expr = /^(\s*)expr: (.*)$/.exec(line);
      if (expr) {
        if (expr[2]?.trim() === '>-') {
          const parts: string[] = [];
          const indent = (expr[1] as string).length;
          for (let k = j + 1; k < lines.length && (/^\s*/.exec(lines[k] as string)?.[0].length ?? 0) > indent; k++)
            parts.push((lines[k] as string).trim());
          rule.expr = parts.join(' ');
        } else rule.expr = (expr[2] as string).trim();
      }
      const dur = /^\s*for: (\S+)/.exec(line);
      if (dur) rule.forSeconds = seconds(dur[1] as string);
    }
    rules.push(rule);
  }
  return rules;
}

function seconds(d: string): number {
  const m = /^(\d+)([smhd])$/.exec(d);
  if (!m) throw new Error(`duration ${d}`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

/** Whether a rule fires at the last scrape: its expression is non-empty at every scrape of its `for`. */
export function fires(rule: Rule, scrapes: Scrape[]): boolean {
  const last = scrapes.at(-1);
  if (!last) return false;
  return scrapes.every((s, i) => s.at < last.at - rule.forSeconds || evaluate(rule.expr, scrapes.slice(0, i + 1)).length > 0);
}

type Value = { scalar: number } | { vector: Point[] };
type Node = (scrapes: Scrape[]) => Value;

/** The expression's value at the last of `scrapes` (a scalar comes back as one unlabelled point). */
export function evaluate(expr: string, scrapes: Scrape[]): Point[] {
  const value = new Parser(expr).parse()(scrapes);
  return 'scalar' in value ? [{ labels: {}, value: value.scalar }] : value.vector;
}

const key = (l: Labels) => JSON.stringify(Object.entries(l).sort());

function select(scrape: Scrape | undefined, name: string, match: (l: Labels) => boolean): Point[] {
  return (scrape?.samples ?? []).filter((s) => s.name === name && match(s.labels)).map((s) => ({ labels: s.labels, value: s.value }));
}

const COMPARE: Record<string, (a: number, b: number) => boolean> = {
  '>': (a, b) => a > b,
  '<': (a, b) => a < b,
  '>=': (a, b) => a >= b,
  '<=': (a, b) => a <= b,
  '==': (a, b) => a === b,
  '!=': (a, b) => a !== b,
};
const ARITH: Record<string, (a: number, b: number) => number> = {
  '+': (a, b) => a + b,
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  '/': (a, b) => a / b,
};

function binary(op: string, left: Value, right: Value): Value {
  const cmp = COMPARE[op];
  const f = cmp ? (a: number, b: number) => (cmp(a, b) ? a : Number.NaN) : (ARITH[op] as (a: number, b: number) => number);
  const keep = (p: Point) => !(cmp && Number.isNaN(p.value));
  if ('scalar' in left && 'scalar' in right) return { scalar: cmp ? Number(cmp(left.scalar, right.scalar)) : f(left.scalar, right.scalar) };
  if ('scalar' in right)
    return { vector: (left as { vector: Point[] }).vector.map((p) => ({ ...p, value: f(p.value, right.scalar) })).filter(keep) };
  if ('scalar' in left) return { vector: right.vector.map((p) => ({ ...p, value: f(left.scalar, p.value) })).filter(keep) };
  const byKey = new Map(right.vector.map((p) => [key(p.labels), p]));
  return {
    vector: left.vector
      .flatMap((p) => {
        const other = byKey.get(key(p.labels));
        return other ? [{ labels: p.labels, value: f(p.value, other.value) }] : [];
      })
      .filter(keep),
  };
}

class Parser {
  readonly #tokens: string[];
  #i = 0;
  constructor(expr: string) {
    this.#tokens = [
      ...expr.matchAll(/\s*(=~|!~|!=|==|>=|<=|"(?:[^"\\]|\\.)*"|\d+(?:\.\d+)?[smhd]?|[a-zA-Z_:][a-zA-Z0-9_:]*|[(){}[\],=><+\-*/])/g),
    ].map((m) => m[1] as string);
  }

  parse(): Node {
    const node = this.#comparison();
    if (this.#i !== this.#tokens.length) throw new Error(`unexpected ${this.#tokens[this.#i]}`);
    return node;
  }

  #peek = () => this.#tokens[this.#i];
  #next = () => this.#tokens[this.#i++] as string;
  #expect(t: string) {
    const got = this.#next();
    if (got !== t) throw new Error(`expected ${t}, got ${got}`);
  }

  #comparison(): Node {
    const left = this.#additive();
    const op = this.#peek();
    if (op && op in COMPARE) {
      this.#next();
      const right = this.#additive();
      return (s) => binary(op, left(s), right(s));
    }
    return left;
  }

  #additive(): Node {
    let node = this.#multiplicative();
    for (let op = this.#peek(); op === '+' || op === '-'; op = this.#peek()) {
      this.#next();
      const [l, r] = [node, this.#multiplicative()];
      node = (s) => binary(op as string, l(s), r(s));
    }
    return node;
  }

  #multiplicative(): Node {
    let node = this.#unary();
    for (let op = this.#peek(); op === '*' || op === '/'; op = this.#peek()) {
      this.#next();
      const [l, r] = [node, this.#unary()];
      node = (s) => binary(op as string, l(s), r(s));
    }
    return node;
  }

  #unary(): Node {
    const t = this.#next();
    if (/^\d/.test(t)) return () => ({ scalar: Number(t) });
    if (t === '(') {
      const inner = this.#comparison();
      this.#expect(')');
      return inner;
    }
    if (t === 'sum') return this.#sum();
    if (t === 'clamp_min') {
      this.#expect('(');
      const inner = this.#comparison();
      this.#expect(',');
      const min = Number(this.#next());
      this.#expect(')');
      return (s) => {
        const v = inner(s);
        return 'scalar' in v
          ? { scalar: Math.max(v.scalar, min) }
          : { vector: v.vector.map((p) => ({ ...p, value: Math.max(p.value, min) })) };
      };
    }
    if (t === 'increase' || t === 'rate' || t === 'delta') return this.#range(t);
    return this.#selector(t);
  }

  #sum(): Node {
    let by: string[] | undefined;
    if (this.#peek() === 'by') {
      this.#next();
      this.#expect('(');
      by = [];
      while (this.#peek() !== ')') {
        by.push(this.#next());
        if (this.#peek() === ',') this.#next();
      }
      this.#expect(')');
    }
    this.#expect('(');
    const inner = this.#comparison();
    this.#expect(')');
    return (s) => {
      const v = inner(s);
      if ('scalar' in v) return v;
      const groups = new Map<string, Point>();
      for (const p of v.vector) {
        const labels = Object.fromEntries((by ?? []).flatMap((l) => (p.labels[l] === undefined ? [] : [[l, p.labels[l] as string]])));
        const g = groups.get(key(labels)) ?? { labels, value: 0 };
        g.value += p.value;
        groups.set(key(labels), g);
      }
      // Like Prometheus, sum() of nothing is nothing (not 0).
      return { vector: [...groups.values()] };
    };
  }

  #matchers(): (l: Labels) => boolean {
    const tests: ((l: Labels) => boolean)[] = [];
    if (this.#peek() !== '{') return () => true;
    this.#next();
    while (this.#peek() !== '}') {
      const label = this.#next();
      const op = this.#next();
      const value = JSON.parse(this.#next()) as string;
      const re = new RegExp(`^(?:${value})$`);
      const have = (l: Labels) => l[label] ?? '';
      tests.push(
        op === '='
          ? (l) => have(l) === value
          : op === '!='
            ? (l) => have(l) !== value
            : op === '=~'
              ? (l) => re.test(have(l))
              : (l) => !re.test(have(l)),
      );
      if (this.#peek() === ',') this.#next();
    }
    this.#expect('}');
    return (l) => tests.every((t) => t(l));
  }

  #selector(name: string): Node {
    const match = this.#matchers();
    return (s) => ({ vector: select(s.at(-1), name, match) });
  }

  #range(fn: string): Node {
    this.#expect('(');
    const name = this.#next();
    const match = this.#matchers();
    this.#expect('[');
    const window = seconds(this.#next());
    this.#expect(']');
    this.#expect(')');
    return (scrapes) => {
      const last = scrapes.at(-1);
      if (!last) return { vector: [] };
      const inWindow = scrapes.filter((s) => s.at >= last.at - window);
      const first = inWindow[0];
      if (!first || first === last) return { vector: [] };
      const before = new Map(select(first, name, match).map((p) => [key(p.labels), p.value]));
      return {
        vector: select(last, name, match).flatMap((p) => {
          const from = before.get(key(p.labels));
          if (from === undefined) return [];
          // A counter that went down was reset: what it shows now is its increase.
          const change = fn === 'delta' ? p.value - from : p.value >= from ? p.value - from : p.value;
          return [{ labels: p.labels, value: fn === 'rate' ? change / (last.at - first.at) : change }];
        }),
      };
    };
  }
}
