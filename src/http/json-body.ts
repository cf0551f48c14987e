/**
 * What Fastify's JSON parser cannot see, checked on bodies that parsed (so the text is known to be valid JSON):
 *
 * - bytes that are not UTF-8: Buffer decoding would turn them into U+FFFD, silently changing a token;
 * - a duplicate key at any depth (`{"name":"a","name":"b"}`): JSON.parse keeps the last one, while another parser
 *   in front of us (a proxy, an audit log) may keep the first — the request must mean one thing;
 * - a string or key holding a lone surrogate (`"\ud800"`): neither database can store it as UTF-8, and storing
 *   U+FFFD instead would silently change it.
 *
 * One pass over the text, linear in its length: a string is decoded only when it holds an escape.
 */
import { fail, type ApiError } from '../errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The body's text, or a 400 when its bytes are not UTF-8. A leading byte-order mark is dropped. */
export function decodeUtf8(bytes: Buffer): string | ApiError {
  try {
    return utf8.decode(bytes);
  } catch {
    return fail('invalidJson', 'body: is not valid UTF-8');
  }
}

const LONE_SURROGATE = /\p{Cs}/u;
const QUOTE = 0x22,
  BACKSLASH = 0x5c,
  OPEN_OBJECT = 0x7b,
  CLOSE_OBJECT = 0x7d,
  OPEN_ARRAY = 0x5b,
  CLOSE_ARRAY = 0x5d,
  COMMA = 0x2c;

/** An open object (its keys so far and the current one) or an open array (the current index). */
interface Frame {
  keys: Set<string> | null;
  key: string;
  index: number;
}

/** The dotted path of the value being read, as validation errors name fields (`options.x`, `roles.0`). */
function pathOf(stack: Frame[]): string {
  return stack.map((f) => (f.keys ? f.key.slice(0, 100) : String(f.index))).join('.') || 'body';
}

/**
 * The first duplicate key or lone surrogate in `text`, which JSON.parse accepted, as a 400; undefined when there
 * is none. `text` comes from decodeUtf8, so a lone surrogate can only be spelled as a `\u` escape.
 */
export function jsonTextProblem(text: string): ApiError | undefined {
  const stack: Frame[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i;
      let escaped = false;
      for (i++; text.charCodeAt(i) !== QUOTE; i++) {
        if (text.charCodeAt(i) === BACKSLASH) {
          escaped = true;
          i++;
        }
      }
      const value = escaped ? (JSON.parse(text.slice(start, i + 1)) as string) : undefined;
      const top = stack[stack.length - 1];
      if (expectKey && top?.keys) {
        const key = value ?? text.slice(start + 1, i);
        if (value !== undefined && LONE_SURROGATE.test(value)) {
          return fail('invalidJson', `${pathOf(stack.slice(0, -1))}: a property name holds a lone surrogate, which UTF-8 cannot store`);
        }
        top.key = key;
        if (top.keys.has(key)) return fail('invalidJson', `${pathOf(stack)}: the key appears more than once`);
        top.keys.add(key);
        expectKey = false;
      } else if (value !== undefined && LONE_SURROGATE.test(value)) {
        return fail('invalidJson', `${pathOf(stack)}: holds a lone surrogate, which UTF-8 cannot store`);
      }
    } else if (c === OPEN_OBJECT) {
      stack.push({ keys: new Set(), key: '', index: 0 });
      expectKey = true;
    } else if (c === OPEN_ARRAY) {
      stack.push({ keys: null, key: '', index: 0 });
      expectKey = false;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      stack.pop();
      expectKey = false;
    } else if (c === COMMA) {
      const top = stack[stack.length - 1];
      if (top.keys) expectKey = true;
      else top.index++;
    }
  }
  return undefined;
}
