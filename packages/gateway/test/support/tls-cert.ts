/**
 * A self-signed certificate for 127.0.0.1 and localhost, made by the system's openssl
 * (node:crypto makes keys but no X.509 certificates; scripts/install-test-tools.sh
 * installs openssl where it is missing).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

export interface TestCert {
  certFile: string;
  keyFile: string;
  /** The certificate (PEM): what a client trusts as its CA. */
  certPem: string;
}

/** Writes `NAME.cert.pem` and `NAME.key.pem` (P-256, valid 1 day) into `dir`. */
export async function makeSelfSignedCert(dir: string, name = 'gateway'): Promise<TestCert> {
  const certFile = join(dir, `${name}.cert.pem`);
  const keyFile = join(dir, `${name}.key.pem`);
  await promisify(execFile)('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=janus-test-${name}`,
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  return { certFile, keyFile, certPem: readFileSync(certFile, 'utf8') };
}
