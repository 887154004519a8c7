import { env } from 'cloudflare:workers';
import { expect } from 'vitest';
import { call } from './http';

/** A browser's cookie jar for one origin, enough for the console's two cookies. */
export class Browser {
  readonly cookies = new Map<string, string>();
  /** The client address Cloudflare would report (sign-ins are limited per network): a /64 of its own. */
  ip = `2001:db8:${crypto.randomUUID().slice(0, 4)}:${crypto.randomUUID().slice(0, 4)}::1`;

  async fetch(path: string, init: { method?: string; form?: Record<string, string>; accept?: string } = {}): Promise<Response> {
    const headers = new Headers({ accept: init.accept ?? 'text/html', 'cf-connecting-ip': this.ip });
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const body = init.form ? new URLSearchParams(init.form) : undefined;
    const res = await call(path, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';');
      const [name = '', value = ''] = pair.split('=');
      if (/max-age=0/i.test(cookie) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  /** The page's CSRF token, from its first form. */
  static csrf(html: string): string {
    const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
    if (!token) throw new Error('no CSRF token on the page');
    return token;
  }

  /** Signs in through the form, as a person would; returns the session's CSRF token. */
  async signIn(): Promise<string> {
    const login = await this.fetch('/admin/login');
    const res = await this.fetch('/admin/login', { form: { _csrf: Browser.csrf(await login.text()), token: env.ADMIN_API_TOKEN } });
    expect(res.status).toBe(303);
    return Browser.csrf(await (await this.fetch('/admin/campaigns')).text());
  }
}
