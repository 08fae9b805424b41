import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/** The client side of SCRAM-SHA-256 (RFC 5802), written independently of the broker's code for the tests. */
export class ScramClient {
  readonly #user: string;
  readonly #password: string;
  readonly #nonce = randomBytes(12).toString('base64');
  #serverSignature: Buffer | undefined;
  #clientFirstBare = '';

  constructor(user: string, password: string) {
    this.#user = user;
    this.#password = password;
  }

  /** client-first-message, for CONNECT (or AUTH 0x19) Authentication Data. */
  first(): Buffer {
    this.#clientFirstBare = `n=${this.#user.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${this.#nonce}`;
    return Buffer.from(`n,,${this.#clientFirstBare}`);
  }

  /** client-final-message answering the server-first-message. */
  final(serverFirst: Buffer): Buffer {
    const text = serverFirst.toString();
    const fields = Object.fromEntries(text.split(',').map((kv) => [kv[0], kv.slice(2)]));
    if (!String(fields.r).startsWith(this.#nonce)) throw new Error('server nonce does not extend ours');
    const salted = pbkdf2Sync(this.#password, Buffer.from(String(fields.s), 'base64'), Number(fields.i), 32, 'sha256');
    const clientKey = createHmac('sha256', salted).update('Client Key').digest();
    const storedKey = createHash('sha256').update(clientKey).digest();
    const withoutProof = `c=biws,r=${fields.r}`;
    const authMessage = `${this.#clientFirstBare},${text},${withoutProof}`;
    const signature = createHmac('sha256', storedKey).update(authMessage).digest();
    const proof = Buffer.from(clientKey.map((b, i) => b ^ (signature[i] as number)));
    const serverKey = createHmac('sha256', salted).update('Server Key').digest();
    this.#serverSignature = createHmac('sha256', serverKey).update(authMessage).digest();
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`);
  }

  /** True when server-final-message proves the server knows the user's credential. */
  verify(serverFinal: Buffer | undefined): boolean {
    return serverFinal !== undefined && this.#serverSignature !== undefined && serverFinal.toString() === `v=${this.#serverSignature.toString('base64')}`;
  }
}
