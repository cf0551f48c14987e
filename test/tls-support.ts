/** A throwaway self-signed certificate for 127.0.0.1, made by openssl, for the tests that serve TLS. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** Writes `<name>-c.pem` and `<name>-k.pem` into `dir` and returns their paths. */
export function selfSignedCertificate(dir: string, name = 'tls'): { cert: string; key: string } {
  const cert = join(dir, `${name}-c.pem`);
  const key = join(dir, `${name}-k.pem`);
  const args = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1'];
  const res = spawnSync('openssl', [...args, '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(res.status, 0, `openssl failed: ${res.error ?? ''} ${res.stderr}`);
  return { cert, key };
}
