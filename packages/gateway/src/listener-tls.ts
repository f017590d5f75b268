/**
 * TLS on the client WebSocket listener (`listen.ws.tls`): browsers on https pages can only
 * open `wss://`. The certificate chain and key are PEM files, read and checked together
 * at start (a pair that does not load stops the start naming the key) and again on each
 * config reload (reload.ts), which installs a changed pair for new TLS handshakes and
 * refuses a pair that does not load. docs/configuration.md.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ErrorCode, JanusError } from '@janus/protocol';

/** `listen.ws.tls`: PEM file paths (absolute once loadConfigFile resolved them against the config file). */
export interface ListenerTlsFiles {
  /** The certificate, followed by its intermediate certificates (PEM). */
  certFile: string;
  /** Its private key (PEM, unencrypted). */
  keyFile: string;
}

/** What node:https takes: the PEM bytes. */
export interface ListenerTls {
  cert: Buffer;
  key: Buffer;
}

function readPem(key: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new JanusError(ErrorCode.ConfigInvalid, `config ${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { key });
  }
}

/**
 * Reads the certificate and key and checks that they make a TLS context together.
 * @throws JanusError JANUS_ERR_CONFIG_INVALID naming `listen.ws.tls.certFile` or
 *   `listen.ws.tls.keyFile` (unreadable), or `listen.ws.tls` (not PEM, or a key that is not
 *   the certificate's), with OpenSSL's reason.
 */
export function loadListenerTls(files: ListenerTlsFiles): ListenerTls {
  const cert = readPem('listen.ws.tls.certFile', files.certFile);
  const key = readPem('listen.ws.tls.keyFile', files.keyFile);
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new JanusError(ErrorCode.ConfigInvalid, `config listen.ws.tls: ${files.certFile} and ${files.keyFile} do not load as a certificate and its key: ${(err as Error).message}`, {
      key: 'listen.ws.tls',
    });
  }
  return { cert, key };
}
