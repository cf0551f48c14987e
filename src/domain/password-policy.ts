/**
 * HDP's default password policy (api.md §3.3): 8–128 characters, not containing the user name, and characters
 * from at least three of upper case, lower case, digits and special characters.
 */
import { randomBytes } from 'node:crypto';

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;

/** Returns the reason the password is refused, or undefined when it is acceptable. */
export function passwordProblem(password: string, userName: string): string | undefined {
  const length = [...password].length;
  if (length < PASSWORD_MIN || length > PASSWORD_MAX) return `it must have ${PASSWORD_MIN} to ${PASSWORD_MAX} characters`;
  if (userName !== '' && password.toLowerCase().includes(userName.toLowerCase())) return 'it must not contain the user name';
  const classes = [/\p{Lu}/u, /\p{Ll}/u, /\p{Nd}/u, /[^\p{Lu}\p{Ll}\p{Nd}]/u].filter((re) => re.test(password)).length;
  if (classes < 3) return 'it must mix at least three of upper case, lower case, digits and special characters';
  return undefined;
}

/** A random password that meets the policy, for first start without a configured one. */
export function generatePassword(): string {
  return `${randomBytes(18).toString('base64url')}-7aZ`;
}
