/**
 * Shape check of a stored bcrypt hash (`$2b$12$` + 22 salt + 31 hash characters), done at load time
 * as Go's `bcrypt.Cost` does for exporter-toolkit, but stricter (length and alphabet). The value may
 * be a plaintext password written by mistake, so no message ever includes any part of it.
 */

const HINT = 'generate a hash with `scrapeguard hash-password`';
const PREFIX = /^\$2[aby]\$/;
const COST = /^\$2[aby]\$(\d\d)\$/;
const BODY = /^[./A-Za-z0-9]{53}$/;

/** Returns what is wrong with `hash`, or `undefined` when it is a well-formed bcrypt hash. */
export function bcryptHashProblem(hash: string): string | undefined {
  if (hash.length < 59) {
    return `crypto/bcrypt: hashedSecret too short to be a bcrypted password (a plaintext password? ${HINT})`;
  }
  if (!PREFIX.test(hash)) return `not a bcrypt hash: it must start with $2a$, $2b$ or $2y$ (${HINT})`;
  const cost = COST.exec(hash)?.[1];
  if (cost === undefined) return `not a bcrypt hash: the cost must be two digits, as in $2b$12$ (${HINT})`;
  if (Number(cost) < 4 || Number(cost) > 31) {
    return `crypto/bcrypt: cost ${Number(cost)} is outside allowed inclusive range 4..31 (${HINT})`;
  }
  if (hash.length !== 60) return `not a bcrypt hash: a bcrypt hash is exactly 60 characters long (${HINT})`;
  if (!BODY.test(hash.slice(7))) {
    return `not a bcrypt hash: salt and hash must use the bcrypt base64 alphabet [./A-Za-z0-9] (${HINT})`;
  }
  return undefined;
}
