// Errors carrying what the daemon said: its message and HTTP-like error code.
export class LxdError extends Error {
  /** HTTP status / LXD error_code, 0 when the daemon was never reached. */
  readonly code: number;

  constructor(message: string, code = 0) {
    super(message);
    this.name = "LxdError";
    this.code = code;
  }

  get notFound(): boolean {
    return this.code === 404;
  }
}
