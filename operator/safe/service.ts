// The Safe Transaction Service as a source of approvals, read with Node's own
// fetch. The operator makes one call, the GET that @safe-global/api-kit's
// getMessage sends; importing api-kit for it (with protocol-kit, viem's ABIs
// and safe-deployments in tow) cost the operator process 30 to 37 MB of RSS
// against a 200 MB goal, so only the CLI, which proposes and signs, loads the kits.
// It is a transport, never a judge: what it returns is only a list of
// candidate signatures, each re-verified on chain by the caller. A response it
// cannot read exactly is refused, which leaves the caller with no service
// approvals (fail closed), never with guessed ones.
import type { Address, Hex } from "viem";
import { BodyTooLarge, readBounded } from "../runtime/bounded-body.ts";
import { errorMessage } from "../runtime/errors.ts";

interface ServiceConfirmation {
  readonly owner: Address;
  readonly signature: Hex;
}

export type ServiceResult =
  | { readonly ok: true; readonly confirmations: readonly ServiceConfirmation[] }
  | { readonly ok: false; readonly error: string };

export interface SafeServiceOptions {
  /** Bound on one request, body included; 10 s unless set. */
  readonly timeoutMs?: number;
  /** Larger bodies are refused; 4 MiB unless set. */
  readonly maxBodyBytes?: number;
  /** The API key the hosted service asks for, sent as api-kit sends it (Authorization: Bearer). */
  readonly apiKey?: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
const SAFE_MESSAGE_HASH = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const HEX_BYTES = /^0x(?:[0-9a-fA-F]{2})+$/;
const MAX_DETAIL_CHARS = 200;
/** What api-kit sends with every request; Authorization only with an API key. */
const HEADERS = { Accept: "application/json", "Content-Type": "application/json" } as const;
/** What an API key may hold: visible ASCII, as an HTTP header carries it (fetch's error would repeat it). */
export const API_KEY = /^[\x21-\x7e]+$/;
/** The hosted services, for which api-kit refuses to start without an API key. */
const HOSTED = /(^|\.)(api\.safe\.global|api\.5afe\.dev)$/;

/** A response the service gave but that cannot be used; `message` says what was wrong. */
class Refusal extends Error {}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

export class SafeService {
  readonly #url: string;
  /** Why `url` cannot be asked at all, found once; reported by every call rather than thrown here. */
  readonly #unusable: string | undefined;
  readonly #timeoutMs: number;
  readonly #maxBodyBytes: number;
  readonly #headers: Readonly<Record<string, string>>;

  /**
   * `url` is what api-kit takes as `txServiceUrl` (e.g. https://host/api), used as
   * api-kit uses it. `_chainId` keeps the constructor's shape: the URL already names the chain.
   */
  constructor(url: string, _chainId: number, options: SafeServiceOptions = {}) {
    this.#url = url;
    const apiKey = options.apiKey?.trim() || undefined;
    this.#unusable = unusableUrl(url, apiKey);
    this.#headers = apiKey ? { ...HEADERS, Authorization: `Bearer ${apiKey}` } : HEADERS;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  }

  /** Confirmations of one Safe message; a message the service does not know (404) has none. */
  async confirmations(safeMessageHash: Hex): Promise<ServiceResult> {
    if (!SAFE_MESSAGE_HASH.test(safeMessageHash)) {
      return { ok: false, error: `not a Safe message hash: ${shown(safeMessageHash)}` };
    }
    if (this.#unusable !== undefined) return { ok: false, error: this.#unusable };
    // Exactly the URL api-kit's getMessage(safeMessageHash) requests.
    const url = `${this.#url}/v1/messages/${safeMessageHash}/`;
    try {
      const response = await fetch(url, {
        method: "GET",
        headers: this.#headers,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      if (response.status === 404) {
        await response.body?.cancel();
        return { ok: true, confirmations: [] };
      }
      const text = await this.#text(response);
      if (!response.ok) {
        return {
          ok: false,
          error: `Safe Transaction Service unavailable: GET ${url} answered HTTP ${String(response.status)}${detailOf(text)}`,
        };
      }
      return { ok: true, confirmations: parseMessage(text, safeMessageHash) };
    } catch (error) {
      return { ok: false, error: this.#describe(error, url) };
    }
  }

  /** The body as UTF-8 text, refused once it exceeds the bound (before reading it if it says so). */
  async #text(response: Response): Promise<string> {
    let bytes: Uint8Array;
    try {
      bytes = await readBounded(response, this.#maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLarge)
        throw new Refusal(`Safe Transaction Service answered a body over ${String(error.limit)} bytes`);
      throw error;
    }
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw new Refusal("Safe Transaction Service answered a body that is not UTF-8");
    }
  }

  #describe(error: unknown, url: string): string {
    if (error instanceof Refusal) return error.message;
    if (error instanceof Error && error.name === "TimeoutError") {
      return `Safe Transaction Service unavailable: GET ${url} timed out after ${String(this.#timeoutMs)} ms`;
    }
    const message = errorMessage(error);
    // fetch reports "fetch failed" and puts the reason (ECONNREFUSED, DNS, TLS) in `cause`.
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return `Safe Transaction Service unavailable: GET ${url} failed: ${message}${cause}`;
  }
}

/** A value from a response, quoted and cut short enough for a status condition. */
function shown(value: unknown): string {
  const text = value === undefined ? "undefined" : JSON.stringify(value);
  return text.length > MAX_DETAIL_CHARS ? `${text.slice(0, MAX_DETAIL_CHARS)}…` : text;
}

/**
 * Why fetch cannot ask `url` (as api-kit would use it), or undefined. fetch
 * refuses a URL with user:password in it, and its error repeats the URL: it is
 * refused here, without repeating it.
 */
function unusableUrl(url: string, apiKey: string | undefined): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `Safe Transaction Service URL ${shown(url)} is not a URL`;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return `Safe Transaction Service URL ${shown(url)} is not http(s)`;
  }
  if (parsed.username !== "" || parsed.password !== "") {
    return `Safe Transaction Service URL for ${parsed.host} carries credentials, which fetch refuses`;
  }
  if (apiKey !== undefined && !API_KEY.test(apiKey)) {
    return "the Safe Transaction Service API key holds characters an HTTP header cannot carry (it is not shown)";
  }
  if (HOSTED.test(parsed.hostname) && apiKey === undefined) {
    return `the Safe Transaction Service at ${parsed.hostname} asks for an API key (from https://developer.safe.global): the Federation's spec.safeTransactionService.apiKeySecretRef, or DSC_SAFE_API_KEY for dsc`;
  }
  return undefined;
}

/** `: detail` from an error body, as the service (Django REST framework) renders it, if there is one. */
function detailOf(text: string): string {
  let detail: unknown;
  try {
    const body: unknown = JSON.parse(text);
    detail = isRecord(body) ? body.detail : undefined;
  } catch {
    return "";
  }
  if (typeof detail !== "string" || detail === "") return "";
  const line = detail.split("\n")[0] ?? detail;
  return `: ${line.length > MAX_DETAIL_CHARS ? `${line.slice(0, MAX_DETAIL_CHARS)}…` : line}`;
}

/** The confirmations of a SafeMessage response, or a Refusal naming the first thing that is wrong. */
function parseMessage(text: string, requested: Hex): ServiceConfirmation[] {
  const malformed = (what: string): Refusal =>
    new Refusal(`Safe Transaction Service answered a malformed message: ${what}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw malformed(`not JSON (${errorMessage(error)})`);
  }
  if (!isRecord(body)) throw malformed("not a JSON object");
  const { messageHash, confirmations } = body;
  if (typeof messageHash !== "string" || messageHash.toLowerCase() !== requested.toLowerCase()) {
    throw malformed(`messageHash ${shown(messageHash)} is not the requested ${requested}`);
  }
  if (!Array.isArray(confirmations)) throw malformed("confirmations is not an array");
  return confirmations.map((entry: unknown, i): ServiceConfirmation => {
    const at = `confirmations[${String(i)}]`;
    if (!isRecord(entry)) throw malformed(`${at} is not an object`);
    const { owner, signature } = entry;
    if (typeof owner !== "string" || !ADDRESS.test(owner)) {
      throw malformed(`${at}.owner ${shown(owner)} is not a 0x address`);
    }
    if (typeof signature !== "string" || !HEX_BYTES.test(signature)) {
      throw malformed(`${at}.signature is not 0x-prefixed hex bytes`);
    }
    return { owner: owner as Address, signature: signature as Hex };
  });
}
