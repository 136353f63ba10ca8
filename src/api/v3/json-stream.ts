// Request bodies of the gateway over WebSocket, read as etcd reads them. etcd's proxy writes
// each WebSocket message and then "\n" into one request body, and grpc-gateway reads JSON values
// from that body with Go's json.Decoder: a value may span messages, a message may hold several
// values, blank messages are nothing, and a syntax error carries Go's words ("invalid character
// 'o' in literal null (expecting 'u')"). This is Go's scanner (encoding/json/scanner.go), with
// its states and messages, reading bytes as they come.

/** What next() gives: a whole value (parsed), Go's syntax error, or undefined for "need more". */
export type JsonStreamItem = { readonly value: unknown } | { readonly error: string };

const enum S {
  BeginValue,
  BeginValueOrEmpty,
  BeginStringOrEmpty,
  BeginString,
  EndValue,
  InString,
  InStringEsc,
  InStringEscU,
  InStringEscU1,
  InStringEscU12,
  InStringEscU123,
  Neg,
  One,
  Zero,
  Dot,
  Dot0,
  E,
  ESign,
  E0,
  T, Tr, Tru,
  F, Fa, Fal, Fals,
  N, Nu, Nul,
}

const enum P { ObjectKey, ObjectValue, ArrayValue }

const LITERAL_NEXT: Partial<Record<S, [number, S, string]>> = {
  [S.T]: [0x72, S.Tr, "in literal true (expecting 'r')"],
  [S.Tr]: [0x75, S.Tru, "in literal true (expecting 'u')"],
  [S.Tru]: [0x65, S.EndValue, "in literal true (expecting 'e')"],
  [S.F]: [0x61, S.Fa, "in literal false (expecting 'a')"],
  [S.Fa]: [0x6c, S.Fal, "in literal false (expecting 'l')"],
  [S.Fal]: [0x73, S.Fals, "in literal false (expecting 's')"],
  [S.Fals]: [0x65, S.EndValue, "in literal false (expecting 'e')"],
  [S.N]: [0x75, S.Nu, "in literal null (expecting 'u')"],
  [S.Nu]: [0x6c, S.Nul, "in literal null (expecting 'l')"],
  [S.Nul]: [0x6c, S.EndValue, "in literal null (expecting 'l')"],
};

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);

/** Go's quoteChar: a byte as the scanner's error names it. */
export function quoteChar(c: number): string {
  if (c === 0x27) return "'\\''";
  if (c === 0x22) return "'\"'";
  const named: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r', 0x5c: '\\\\' };
  if (named[c] !== undefined) return `'${named[c]}'`;
  // strconv.Quote(string(rune(c))): control characters and the unprintable Latin-1 ones escaped.
  if (c < 0x20 || c === 0x7f) return `'\\x${c.toString(16).padStart(2, '0')}'`;
  if ((c >= 0x80 && c <= 0xa0) || c === 0xad) return `'\\u${c.toString(16).padStart(4, '0')}'`;
  return `'${String.fromCharCode(c)}'`;
}

/** What one held part (a message, or the newline after it) is charged beyond its bytes. */
export const JSON_STREAM_PART_COST_BYTES = 128;

/**
 * A stream of JSON values in Go's json.Decoder manner. pushMessage() adds a WebSocket message
 * (and the "\n" etcd's proxy writes after it); next() gives the values one at a time. Holds at
 * most `bytesMax` bytes of a value not yet complete (the caller refuses more).
 */
export class GoJsonStream {
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** Scan position: parts[partIdx][pos]. The value in progress starts at parts[0][start]. */
  private partIdx = 0;
  private pos = 0;
  private start = -1;
  private state: S = S.BeginValue;
  private stack: P[] = [];
  private error: string | undefined;

  constructor(private readonly bytesMax: number) {}

  /** Bytes held: the value in progress and what follows it. */
  get bufferedBytes(): number {
    return this.partBytes;
  }

  /** False if the bytes held would pass `bytesMax`: the message is not taken. Each part held
   *  counts JSON_STREAM_PART_COST_BYTES more (its Buffer and slot cost the heap that much), so
   *  that a flood of tiny messages is bounded like one large one. */
  pushMessage(msg: Buffer): boolean {
    if (this.partBytes + msg.length + 1 + (this.parts.length + 2) * JSON_STREAM_PART_COST_BYTES > this.bytesMax) return false;
    if (msg.length > 0) this.parts.push(msg);
    this.parts.push(NEWLINE);
    this.partBytes += msg.length + 1;
    return true;
  }

  next(): JsonStreamItem | undefined {
    if (this.error !== undefined) return { error: this.error };
    while (this.partIdx < this.parts.length) {
      const part = this.parts[this.partIdx]!;
      while (this.pos < part.length) {
        const c = part[this.pos]!;
        if (this.start < 0) {
          // Between values: skip blanks; the value starts here.
          if (isSpace(c)) {
            this.pos++;
            continue;
          }
          this.dropBefore();
          this.start = this.pos;
        }
        const r = this.step(c);
        if (r === STEP_ERROR) return { error: this.error! };
        if (r === STEP_END_BEFORE) return this.take();
        this.pos++;
        if (r === STEP_END) return this.take();
      }
      this.partIdx++;
      this.pos = 0;
    }
    if (this.start < 0) this.dropBefore();
    return undefined;
  }

  /** Drops the parts before the scan position (nothing of a value is in them). */
  private dropBefore(): void {
    if (this.partIdx === 0) return;
    for (let i = 0; i < this.partIdx; i++) this.partBytes -= this.parts[i]!.length;
    this.parts = this.parts.slice(this.partIdx);
    this.partIdx = 0;
  }

  /** The value from `start` to the scan position (which has moved past its last byte). */
  private take(): JsonStreamItem {
    const pieces: Buffer[] = [];
    for (let i = 0; i <= this.partIdx && i < this.parts.length; i++) {
      const p = this.parts[i]!;
      const from = i === 0 ? this.start : 0;
      const to = i === this.partIdx ? this.pos : p.length;
      pieces.push(p.subarray(from, to));
    }
    const text = (pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces)).toString('utf8');
    // Keep what follows the value; drop the value.
    for (let i = 0; i < this.partIdx; i++) this.partBytes -= this.parts[i]!.length;
    const cur = this.parts[this.partIdx];
    this.parts = this.parts.slice(this.partIdx);
    if (cur !== undefined) {
      this.parts[0] = cur.subarray(this.pos);
      this.partBytes -= this.pos;
    }
    this.partIdx = 0;
    this.pos = 0;
    this.start = -1;
    this.state = S.BeginValue;
    this.stack = [];
    try {
      return { value: JSON.parse(text) as unknown };
    } catch (err) {
      // The scanner accepted it, so JSON.parse should too; if not, it is still an error.
      this.error = (err as Error).message;
      return { error: this.error };
    }
  }

  private fail(c: number, context: string): number {
    this.error = `invalid character ${quoteChar(c)} ${context}`;
    return STEP_ERROR;
  }

  /** One byte of Go's scanner. */
  private step(c: number): number {
    switch (this.state) {
      case S.BeginValueOrEmpty:
        if (isSpace(c)) return STEP_CONTINUE;
        if (c === 0x5d) return this.endValue(c);
        return this.beginValue(c);
      case S.BeginValue:
        if (isSpace(c)) return STEP_CONTINUE;
        return this.beginValue(c);
      case S.BeginStringOrEmpty:
        if (isSpace(c)) return STEP_CONTINUE;
        if (c === 0x7d) {
          this.stack[this.stack.length - 1] = P.ObjectValue;
          return this.endValue(c);
        }
        return this.beginString(c);
      case S.BeginString:
        if (isSpace(c)) return STEP_CONTINUE;
        return this.beginString(c);
      case S.EndValue:
        return this.endValue(c);
      case S.InString:
        if (c === 0x22) {
          this.state = S.EndValue;
          return this.stack.length === 0 ? STEP_END : STEP_CONTINUE;
        }
        if (c === 0x5c) {
          this.state = S.InStringEsc;
          return STEP_CONTINUE;
        }
        if (c < 0x20) return this.fail(c, 'in string literal');
        return STEP_CONTINUE;
      case S.InStringEsc:
        if (c === 0x62 || c === 0x66 || c === 0x6e || c === 0x72 || c === 0x74 || c === 0x5c || c === 0x2f || c === 0x22) {
          this.state = S.InString;
          return STEP_CONTINUE;
        }
        if (c === 0x75) {
          this.state = S.InStringEscU;
          return STEP_CONTINUE;
        }
        return this.fail(c, 'in string escape code');
      case S.InStringEscU: case S.InStringEscU1: case S.InStringEscU12: case S.InStringEscU123:
        if (!isHex(c)) return this.fail(c, 'in \\u hexadecimal character escape');
        this.state = this.state === S.InStringEscU123 ? S.InString : this.state + 1;
        return STEP_CONTINUE;
      case S.Neg:
        if (c === 0x30) {
          this.state = S.Zero;
          return STEP_CONTINUE;
        }
        if (c >= 0x31 && c <= 0x39) {
          this.state = S.One;
          return STEP_CONTINUE;
        }
        return this.fail(c, 'in numeric literal');
      case S.One:
        if (isDigit(c)) return STEP_CONTINUE;
        return this.afterZero(c);
      case S.Zero:
        return this.afterZero(c);
      case S.Dot:
        if (isDigit(c)) {
          this.state = S.Dot0;
          return STEP_CONTINUE;
        }
        return this.fail(c, 'after decimal point in numeric literal');
      case S.Dot0:
        if (isDigit(c)) return STEP_CONTINUE;
        if (c === 0x65 || c === 0x45) {
          this.state = S.E;
          return STEP_CONTINUE;
        }
        return this.numberEnd(c);
      case S.E:
        if (c === 0x2b || c === 0x2d) {
          this.state = S.ESign;
          return STEP_CONTINUE;
        }
        return this.eSign(c);
      case S.ESign:
        return this.eSign(c);
      case S.E0:
        if (isDigit(c)) return STEP_CONTINUE;
        return this.numberEnd(c);
      default: {
        const lit = LITERAL_NEXT[this.state];
        if (lit === undefined) throw new Error(`json-stream: state ${this.state}`);
        if (c !== lit[0]) return this.fail(c, lit[2]);
        this.state = lit[1];
        return lit[1] === S.EndValue && this.stack.length === 0 ? STEP_END : STEP_CONTINUE;
      }
    }
  }

  private beginValue(c: number): number {
    if ((c === 0x7b || c === 0x5b) && this.stack.length >= NESTING_DEPTH_MAX) return this.fail(c, 'exceeded max depth');
    switch (c) {
      case 0x7b:
        this.stack.push(P.ObjectKey);
        this.state = S.BeginStringOrEmpty;
        return STEP_CONTINUE;
      case 0x5b:
        this.stack.push(P.ArrayValue);
        this.state = S.BeginValueOrEmpty;
        return STEP_CONTINUE;
      case 0x22:
        this.state = S.InString;
        return STEP_CONTINUE;
      case 0x2d:
        this.state = S.Neg;
        return STEP_CONTINUE;
      case 0x30:
        this.state = S.Zero;
        return STEP_CONTINUE;
      case 0x74:
        this.state = S.T;
        return STEP_CONTINUE;
      case 0x66:
        this.state = S.F;
        return STEP_CONTINUE;
      case 0x6e:
        this.state = S.N;
        return STEP_CONTINUE;
    }
    if (c >= 0x31 && c <= 0x39) {
      this.state = S.One;
      return STEP_CONTINUE;
    }
    return this.fail(c, 'looking for beginning of value');
  }

  private beginString(c: number): number {
    if (c === 0x22) {
      this.state = S.InString;
      return STEP_CONTINUE;
    }
    return this.fail(c, 'looking for beginning of object key string');
  }

  private afterZero(c: number): number {
    if (c === 0x2e) {
      this.state = S.Dot;
      return STEP_CONTINUE;
    }
    if (c === 0x65 || c === 0x45) {
      this.state = S.E;
      return STEP_CONTINUE;
    }
    return this.numberEnd(c);
  }

  private eSign(c: number): number {
    if (isDigit(c)) {
      this.state = S.E0;
      return STEP_CONTINUE;
    }
    return this.fail(c, 'in exponent of numeric literal');
  }

  /** `c` follows a number: a top-level number ends before it, else it is what follows a value. */
  private numberEnd(c: number): number {
    if (this.stack.length === 0) return STEP_END_BEFORE;
    return this.endValue(c);
  }

  /** Go's stateEndValue: what may follow a value inside an object or array. */
  private endValue(c: number): number {
    const n = this.stack.length;
    if (n === 0) return STEP_END_BEFORE;
    if (isSpace(c)) {
      this.state = S.EndValue;
      return STEP_CONTINUE;
    }
    switch (this.stack[n - 1]!) {
      case P.ObjectKey:
        if (c === 0x3a) {
          this.stack[n - 1] = P.ObjectValue;
          this.state = S.BeginValue;
          return STEP_CONTINUE;
        }
        return this.fail(c, 'after object key');
      case P.ObjectValue:
        if (c === 0x2c) {
          this.stack[n - 1] = P.ObjectKey;
          this.state = S.BeginString;
          return STEP_CONTINUE;
        }
        if (c === 0x7d) return this.pop();
        return this.fail(c, 'after object key:value pair');
      case P.ArrayValue:
        if (c === 0x2c) {
          this.state = S.BeginValue;
          return STEP_CONTINUE;
        }
        if (c === 0x5d) return this.pop();
        return this.fail(c, 'after array element');
    }
  }

  /** The byte closing an object or array: the value is whole if it was the outermost. */
  private pop(): number {
    this.stack.pop();
    this.state = S.EndValue;
    return this.stack.length === 0 ? STEP_END : STEP_CONTINUE;
  }
}

const NEWLINE = Buffer.from('\n');
/** Go's maxNestingDepth. */
const NESTING_DEPTH_MAX = 10_000;
const STEP_CONTINUE = 0;
/** The value ends with this byte. */
const STEP_END = 1;
/** The value ended before this byte (a number), which is not part of it. */
const STEP_END_BEFORE = 2;
const STEP_ERROR = 3;
