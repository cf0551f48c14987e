/** System-level limits that the lockout policy reads (api.md §3.3), with HDP's defaults. */
export const Limit = { PasswordLockoutInterval: 2, PasswordLockoutLimit: 3, PasswordLockoutPeriod: 4 } as const;
export const limitCatalogue = [
  { id: 2, name: 'PasswordLockoutInterval', defaultValue: 900, description: 'Window, in seconds, in which failed logins are counted.' },
  { id: 3, name: 'PasswordLockoutLimit', defaultValue: 3, description: 'Failed logins that lock an account; 0 turns lockout off.' },
  { id: 4, name: 'PasswordLockoutPeriod', defaultValue: 1800, description: 'Seconds an account stays locked.' },
] as const;
