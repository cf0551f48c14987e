/**
 * The SQLite database holds password hashes and sealed secrets. tokenkeep creates its folder 0700 and its files 0600
 * (./db.ts), but a database made by an older version, copied or restored keeps its mode: the server says so at start
 * rather than changing modes behind the operator's back.
 */
import { statSync } from 'node:fs';
import { dirname } from 'node:path';

const octal = (mode: number): string => (mode & 0o777).toString(8).padStart(4, '0');

/** One warning per database file (and the folder) that group or others may access, each naming the fix. */
export function permissionWarnings(file: string): string[] {
  if (file === ':memory:') return [];
  const warnings: string[] = [];
  for (const path of [file, `${file}-wal`, `${file}-shm`]) {
    const st = statSync(path, { throwIfNoEntry: false });
    if (st && (st.mode & 0o077) !== 0) {
      warnings.push(
        `the database file ${path} is accessible by group or others (mode ${octal(st.mode)}): it holds password ` +
          `hashes and sealed secrets; run chmod 600 ${path}`,
      );
    }
  }
  const folder = dirname(file);
  const st = statSync(folder, { throwIfNoEntry: false });
  // A shared sticky folder such as /tmp is not the operator's to close; the files' own modes are what matter there.
  if (st && (st.mode & 0o077) !== 0 && (st.mode & 0o1000) === 0) {
    warnings.push(
      `the database folder ${folder} is accessible by group or others (mode ${octal(st.mode)}); ` +
        `run chmod 700 ${folder}, or keep the database in a folder of its own`,
    );
  }
  return warnings;
}
