/**
 * The receive side of the record layer for one connection (PROTOCOL.md 7.5, 8): record
 * open (once keys exist), Packet decode, and the index check.
 */
import { decodePacket, ErrorCode, JanusError, MAX_INDEX, type Packet, type RecordOpener } from '@janus/protocol';

/** Reads client Packets in order. */
export class Receiver {
  /** Set once the handshake derived keys (encrypted sessions). */
  opener: RecordOpener<true> | null = null;
  /** The index the next client Packet must carry (start_index + Packets read). */
  nextIndex = 0;

  /**
   * Opens (when encrypted) and decodes a client body, checking its index.
   * @throws JanusError JANUS_ERR_RECORD_OPEN / _RECORD_LIMIT (record), JANUS_ERR_PACKET_MALFORMED
   *   (Packet), JANUS_ERR_INDEX_MISMATCH (index); each closes the connection at once.
   */
  read(body: Uint8Array): Packet {
    const plain = this.opener ? this.opener.open(body) : body;
    const p = decodePacket(plain);
    if (p.index !== this.nextIndex || p.index > MAX_INDEX) {
      throw new JanusError(ErrorCode.IndexMismatch, `index ${p.index}, expected ${this.nextIndex}`);
    }
    this.nextIndex++;
    return p;
  }
}
