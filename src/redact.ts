/** Anything shaped like a bootstrap token, wherever it appears (kubeadm init prints its join command). */
const TOKEN_ANYWHERE = /\b([a-z0-9]{6})\.[a-z0-9]{16}\b/g;

/** Replaces the secret half of every bootstrap token in a text; the public ID stays. */
export function redactTokens(text: string): string {
  return text.replace(TOKEN_ANYWHERE, '$1.<redacted>');
}
const KEY_BEGIN = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
const KEY_END = /-----END [A-Z ]*PRIVATE KEY-----/;

/**
 * Redacts secrets from output before it reaches a log or the terminal: bootstrap tokens (the
 * public ID stays), private key blocks, and any extra literal secrets it is given.
 */
export class Redactor {
  private inKey = false;
  constructor(private readonly literals: string[] = []) {}

  line(text: string): string {
    if (this.inKey) {
      if (KEY_END.test(text)) this.inKey = false;
      return '<private key redacted>';
    }
    if (KEY_BEGIN.test(text)) {
      this.inKey = !KEY_END.test(text);
      return '<private key redacted>';
    }
    let out = redactTokens(text);
    for (const s of this.literals) if (s.length >= 8) out = out.split(s).join('<redacted>');
    return out;
  }

  text(text: string): string {
    return text.split('\n').map((l) => this.line(l)).join('\n');
  }
}
