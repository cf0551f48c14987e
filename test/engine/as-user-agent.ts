/**
 * A minimal browser for the test authorization server: it follows an authorization request through the AS's
 * redirects, keeps the AS's cookies, fills in the login form and answers the consent form (as-interactions.ts), and
 * stops at the first redirect that leaves the AS — the one to the client's redirect_uri, whose `code` (or `error`)
 * is read from the Location header. Nothing listens on the redirect_uri and nothing connects to it.
 */
import { request, type Dispatcher } from 'undici';

export interface ConsentChoice {
  /** the login typed into the login form; it becomes the account id (`sub`) */
  accountId?: string;
  /** the button pressed on the consent page */
  decision?: 'allow' | 'deny';
}

/** The AS's pages take about six steps (auth, login page, login, resume, consent page, consent, resume). */
const MAX_STEPS = 20;

/** Follows `authorizeUrl` as a user would and returns the URL the AS finally sends the browser to off the AS. */
export async function followAuthorization(authorizeUrl: string, dispatcher: Dispatcher, choice: ConsentChoice = {}): Promise<URL> {
  const jar = new CookieJar();
  const asOrigin = new URL(authorizeUrl).origin;
  let url = new URL(authorizeUrl);
  let form: string | undefined;
  for (let step = 0; step < MAX_STEPS; step++) {
    const headers: Record<string, string> = {};
    const cookie = jar.header();
    if (cookie) headers.cookie = cookie;
    if (form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await request(url, { method: form === undefined ? 'GET' : 'POST', headers, body: form, dispatcher });
    jar.store(res.headers['set-cookie']);
    const text = await res.body.text();
    if (res.statusCode >= 300 && res.statusCode < 400) {
      const location = new URL(String(res.headers.location), url);
      if (location.origin !== asOrigin) return location;
      url = location;
      form = undefined;
      continue;
    }
    if (res.statusCode !== 200) throw new Error(`the AS answered ${res.statusCode} at ${url.pathname}: ${text.slice(0, 300)}`);
    const forms = new Map([...text.matchAll(/<form id="(\w+)" method="post" action="([^"]+)"/g)].map((m) => [m[1], m[2]]));
    const login = forms.get('login');
    const answer = choice.decision === 'deny' ? forms.get('deny') : forms.get('consent');
    if (login) {
      url = new URL(login, url);
      form = new URLSearchParams({ login: choice.accountId ?? 'alice', password: 'any password' }).toString();
    } else if (answer) {
      url = new URL(answer, url);
      form = '';
    } else {
      throw new Error(`the AS page at ${url.pathname} holds neither a login nor a consent form`);
    }
  }
  throw new Error(`the authorization did not leave the AS within ${MAX_STEPS} steps`);
}

/** One browser session's cookies by name. Paths are not modelled: sending the AS a cookie of another path is harmless. */
class CookieJar {
  private readonly cookies = new Map<string, string>();

  store(setCookie: string | string[] | undefined): void {
    for (const line of setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie]) {
      const [pair, ...attributes] = line.split(';').map((part) => part.trim());
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      // The AS clears a cookie by setting it empty with a past expiry date.
      const expired = attributes.some((a) => {
        const [key, v = ''] = a.split('=');
        return (key.toLowerCase() === 'expires' && Date.parse(v) <= Date.now()) || (key.toLowerCase() === 'max-age' && Number(v) <= 0);
      });
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): string | undefined {
    return this.cookies.size === 0 ? undefined : [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}
