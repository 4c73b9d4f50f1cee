// dqlite's client wire protocol (version 1): every message is an 8-byte header (body length in
// 8-byte words as uint32, type, schema, a uint16 left zero) and a body of little-endian fields,
// each padded to 8 bytes: uint64/int64/double, NUL-terminated text, blobs as length + bytes.
// Facts from dqlite 1.11's request/response/tuple definitions; the code is ours.

export const PROTOCOL_VERSION = 1n;

/** Request type codes. */
export const Req = {
  leader: 0,
  client: 1,
  open: 3,
  execSql: 8,
  querySql: 9,
  add: 12,
  assign: 13,
  remove: 14,
  cluster: 16,
  transfer: 17,
} as const;

/** Response type codes. */
export const Res = {
  failure: 0,
  server: 1,
  welcome: 2,
  servers: 3,
  db: 4,
  result: 6,
  rows: 7,
  empty: 8,
} as const;

/** Value type codes in parameter and row tuples. */
const T = { integer: 1, float: 2, text: 3, blob: 4, null: 5, unixtime: 9, iso8601: 10, boolean: 11 } as const;

/** End markers of a row batch: the result set is complete, or more batches follow. */
const ROWS_DONE = 0xffffffffffffffffn;
const ROWS_PART = 0xeeeeeeeeeeeeeeeen;

/** Roles of a node in the Raft configuration. */
export const Role = { voter: 0, standby: 1, spare: 2 } as const;
export type RoleName = keyof typeof Role;

export type SqlValue = number | bigint | string | Uint8Array | boolean | null;

const pad8 = (n: number) => (n + 7) & ~7;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** Builds a message body field by field. */
export class Writer {
  private buf = new Uint8Array(64);
  private view = new DataView(this.buf.buffer);
  private len = 0;

  private reserve(n: number): number {
    if (this.len + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.len;
    this.len += n;
    return at;
  }

  // reserve() may grow the buffer: take the offset before reading this.view.
  uint64(v: bigint | number): this {
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt(v), true);
    return this;
  }

  int64(v: bigint | number): this {
    const at = this.reserve(8);
    this.view.setBigInt64(at, BigInt(v), true);
    return this;
  }

  float(v: number): this {
    const at = this.reserve(8);
    this.view.setFloat64(at, v, true);
    return this;
  }

  text(s: string): this {
    const bytes = utf8.encode(s);
    if (bytes.includes(0)) throw new Error("dqlite text cannot contain a NUL character");
    const at = this.reserve(pad8(bytes.length + 1));
    this.buf.set(bytes, at);
    return this;
  }

  blob(b: Uint8Array): this {
    this.uint64(b.length);
    const at = this.reserve(pad8(b.length));
    this.buf.set(b, at);
    return this;
  }

  /** Statement parameters: a count byte and one type byte each, padded to a word, then the values. */
  params(values: readonly SqlValue[]): this {
    if (values.length > 255) throw new Error(`dqlite takes at most 255 statement parameters (got ${values.length})`);
    if (values.length === 0) return this;
    const header = this.reserve(pad8(1 + values.length));
    this.buf[header] = values.length;
    values.forEach((v, i) => {
      const type = this.value(v);
      this.buf[header + 1 + i] = type;
    });
    return this;
  }

  private value(v: SqlValue): number {
    if (v === null || v === undefined) {
      this.uint64(0);
      return T.null;
    }
    if (typeof v === "boolean") {
      this.int64(v ? 1 : 0);
      return T.integer;
    }
    if (typeof v === "bigint" || (typeof v === "number" && Number.isInteger(v))) {
      this.int64(v);
      return T.integer;
    }
    if (typeof v === "number") {
      this.float(v);
      return T.float;
    }
    if (typeof v === "string") {
      this.text(v);
      return T.text;
    }
    this.blob(v);
    return T.blob;
  }

  /** The whole message: header then body. */
  message(type: number, schema = 0): Uint8Array {
    const out = new Uint8Array(8 + this.len);
    const view = new DataView(out.buffer);
    view.setUint32(0, this.len / 8, true);
    out[4] = type;
    out[5] = schema;
    out.set(this.buf.subarray(0, this.len), 8);
    return out;
  }
}

/** Reads a message body field by field; running past its end is a protocol error. */
export class Reader {
  private at = 0;
  private readonly view: DataView;

  constructor(private readonly body: Uint8Array) {
    this.view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  }

  get done(): boolean {
    return this.at >= this.body.length;
  }

  private take(n: number): number {
    if (this.at + n > this.body.length) throw new Error("dqlite message ended early");
    const at = this.at;
    this.at += n;
    return at;
  }

  uint64(): bigint {
    return this.view.getBigUint64(this.take(8), true);
  }

  int64(): bigint {
    return this.view.getBigInt64(this.take(8), true);
  }

  float(): number {
    return this.view.getFloat64(this.take(8), true);
  }

  text(): string {
    const end = this.body.indexOf(0, this.at);
    if (end < 0) throw new Error("dqlite text is not terminated");
    const s = fromUtf8.decode(this.body.subarray(this.at, end));
    this.take(pad8(end - this.at + 1));
    return s;
  }

  blob(): Uint8Array {
    const n = Number(this.uint64());
    const at = this.take(pad8(n));
    return this.body.slice(at, at + n);
  }

  /**
   * One batch of rows: the column names the first time (`columns` empty), then rows until an end
   * marker. Returns whether the result set is complete.
   */
  rows(columns: string[], out: SqlValue[][]): boolean {
    const n = Number(this.uint64());
    if (columns.length === 0) for (let i = 0; i < n; i++) columns.push(this.text());
    else for (let i = 0; i < n; i++) this.text();
    for (;;) {
      const marker = this.view.getBigUint64(this.at, true);
      if (marker === ROWS_DONE || marker === ROWS_PART) {
        this.take(8);
        return marker === ROWS_DONE;
      }
      const header = this.take(pad8(Math.ceil(n / 2)));
      const row: SqlValue[] = [];
      for (let i = 0; i < n; i++) row.push(this.rowValue((this.body[header + (i >> 1)] >> ((i & 1) * 4)) & 0xf));
      out.push(row);
    }
  }

  private rowValue(type: number): SqlValue {
    switch (type) {
      case T.integer:
      case T.unixtime:
      case T.boolean: {
        const v = this.int64();
        return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      case T.float:
        return this.float();
      case T.text:
      case T.iso8601:
        return this.text();
      case T.blob:
        return this.blob();
      case T.null:
        this.take(8);
        return null;
      default:
        throw new Error(`dqlite row has an unknown value type ${type}`);
    }
  }
}
