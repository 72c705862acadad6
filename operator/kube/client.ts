// The operator's API server client: JSON over node:https (or node:http) on
// one keep-alive Agent, so requests reuse a handful of TLS connections.
// Bodies go out and come back as the API server's own JSON, untouched by any
// model layer. Errors are ApiError with the HTTP status and the Status
// body's reason and message. Discovery maps (apiVersion, kind) to URLs;
// watch() streams newline-delimited JSON events.
import { readFileSync } from "node:fs";
import {
  Agent as HttpAgent,
  request as httpRequest,
  type ClientRequest,
  type IncomingMessage,
} from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { KubeSettings } from "./config.ts";
import { Discovery, type ResourceInfo } from "./discovery.ts";
import { LineSplitter } from "./lines.ts";
import type { ObjectHeader, Status } from "./object.ts";

/** A request the API server answered with an error status. */
export class ApiError extends Error {
  override name = "ApiError";
  readonly statusCode: number;
  /** The Status reason: `NotFound`, `AlreadyExists`, `Conflict`, `Expired`, ... */
  readonly reason: string | undefined;
  /** The parsed Status, or the raw text if the body was not JSON. */
  readonly body: unknown;

  constructor(statusCode: number, body: unknown) {
    const status = typeof body === "object" && body !== null ? (body as Status) : undefined;
    const message = status?.message ?? (typeof body === "string" && body !== "" ? body.slice(0, 500) : "");
    super(message ? `HTTP ${String(statusCode)}: ${message}` : `HTTP ${String(statusCode)}`);
    this.statusCode = statusCode;
    this.reason = status?.reason;
    this.body = body;
  }
}

interface RequestOptions {
  readonly query?: Readonly<Record<string, string>>;
  /** Sent as JSON. */
  readonly body?: unknown;
  /** Default application/json; a patch names its kind, e.g. application/apply-patch+yaml. */
  readonly contentType?: string;
  readonly accept?: string;
}

type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

/** One line of a watch stream. An ERROR event's object is a Status (410 when the version is too old). */
export interface WatchEvent {
  readonly type: WatchEventType;
  readonly object: unknown;
}

export interface WatchHandle {
  /** Ends the watch; its onDone is not called after an abort. */
  abort(): void;
}

/** What an informer needs to watch; KubeClient is one, tests have a fake. */
export interface Watcher {
  /**
   * Watches a collection path (`watch=true` is added). onEvent is called for
   * each event in order; onDone once, when the stream ends: with no error
   * when the server closed it (e.g. at timeoutSeconds), else with the error.
   */
  watch(
    path: string,
    query: Readonly<Record<string, string>>,
    onEvent: (event: WatchEvent) => void,
    onDone: (err?: Error) => void,
    options?: WatchOptions,
  ): WatchHandle;
}

export interface WatchOptions {
  /** The Accept header; PARTIAL_METADATA for events that carry metadata only. */
  readonly accept?: string;
}

/**
 * Accept headers that ask the API server for objects' metadata only (as
 * client-go's metadata client does): a list, and watch events.
 */
export const PARTIAL_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
export const PARTIAL_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";

interface KubeClientOptions {
  /** Per request, watches excepted. Default 60 s. */
  readonly timeoutMs?: number;
  /** How often a token file is read again (bound service-account tokens rotate hourly). Default 60 s. */
  readonly tokenRereadMs?: number;
  /** The longest watch event accepted. Default 16 MiB. */
  readonly maxEventBytes?: number;
}

export class KubeClient implements Watcher {
  /** The default namespace: the kubeconfig context's, or the pod's. */
  readonly namespace: string;
  readonly server: string;
  readonly #settings: KubeSettings;
  readonly #agent: HttpAgent;
  readonly #send: typeof httpRequest;
  readonly #timeoutMs: number;
  readonly #tokenRereadMs: number;
  readonly #maxEventBytes: number;
  readonly #discovery: Discovery;
  #token: { value: string | undefined; readAt: number } = { value: undefined, readAt: -Infinity };

  constructor(settings: KubeSettings, options: KubeClientOptions = {}) {
    this.#settings = settings;
    this.server = settings.server;
    this.namespace = settings.namespace;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#tokenRereadMs = options.tokenRereadMs ?? 60_000;
    this.#maxEventBytes = options.maxEventBytes ?? 16 * 1024 * 1024;
    const secure = new URL(settings.server).protocol === "https:";
    this.#send = secure ? httpsRequest : httpRequest;
    this.#agent = secure
      ? new HttpsAgent({
          keepAlive: true,
          ...(settings.ca && { ca: settings.ca }),
          ...(settings.cert && { cert: settings.cert }),
          ...(settings.key && { key: settings.key }),
          ...(settings.tlsServerName !== undefined && { servername: settings.tlsServerName }),
          rejectUnauthorized: !settings.insecureSkipTlsVerify,
        })
      : new HttpAgent({ keepAlive: true });
    this.#discovery = new Discovery(
      (path) => this.request("GET", path),
      (err) => err instanceof ApiError && err.statusCode === 404,
    );
  }

  /** Sends one request; resolves with the parsed JSON answer (undefined for an empty one). */
  request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    return new Promise<T>((resolve, reject) => {
      const req = this.#open(method, path, options.query ?? {}, {
        Accept: options.accept ?? "application/json",
        ...(body !== undefined && {
          "Content-Type": options.contentType ?? "application/json",
          "Content-Length": String(Buffer.byteLength(body)),
        }),
      });
      req.setTimeout(this.#timeoutMs, () => {
        req.destroy(new Error(`${method} ${path}: no answer in ${String(this.#timeoutMs)} ms`));
      });
      req.on("error", reject);
      req.on("response", (res) => {
        readAll(res).then((text) => {
          const status = res.statusCode ?? 0;
          const parsed = parseJson(text);
          if (status >= 200 && status < 300) {
            if (parsed.ok) resolve(parsed.value as T);
            else reject(new Error(`${method} ${path}: the answer is not JSON: ${text.slice(0, 200)}`));
          } else {
            reject(new ApiError(status, parsed.ok ? parsed.value : text));
          }
        }, reject);
      });
      req.end(body);
    });
  }

  /** Discovery: the resource serving a kind, or undefined if there is none (not even after a fresh look). */
  resource(apiVersion: string, kind: string): Promise<ResourceInfo | undefined> {
    return this.#discovery.resource(apiVersion, kind);
  }

  /**
   * The URL path of an object (with its name) or of the collection it belongs
   * to (without, as a create needs). A namespaced object without a namespace
   * goes to the client's default namespace, as kubectl does.
   */
  async objectPath(object: ObjectHeader, withName = true): Promise<string> {
    const { apiVersion, kind } = object;
    if (!apiVersion || !kind) throw new Error("an object needs apiVersion and kind to be located");
    const resource = await this.resource(apiVersion, kind);
    if (!resource) throw new ApiError(404, { message: `the server has no kind ${kind} in ${apiVersion}` });
    let path = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    if (resource.namespaced)
      path += `/namespaces/${encodeURIComponent(object.metadata?.namespace || this.namespace)}`;
    path += `/${resource.name}`;
    if (withName) {
      const name = object.metadata?.name;
      if (!name) throw new Error(`a ${kind} without metadata.name cannot be located`);
      path += `/${encodeURIComponent(name)}`;
    }
    return path;
  }

  watch(
    path: string,
    query: Readonly<Record<string, string>>,
    onEvent: (event: WatchEvent) => void,
    onDone: (err?: Error) => void,
    options: WatchOptions = {},
  ): WatchHandle {
    let finished = false;
    let aborted = false;
    const finish = (err?: Error): void => {
      if (finished) return;
      finished = true;
      if (!aborted) onDone(err);
    };
    const req = this.#open(
      "GET",
      path,
      { ...query, watch: "true" },
      { Accept: options.accept ?? "application/json" },
    );
    req.on("error", (err) => {
      finish(err);
    });
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        readAll(res).then((text) => {
          const parsed = parseJson(text);
          finish(new ApiError(status, parsed.ok ? parsed.value : text));
        }, finish);
        return;
      }
      const lines = new LineSplitter(this.#maxEventBytes);
      res.on("data", (chunk: Buffer) => {
        if (finished) return;
        try {
          for (const line of lines.push(chunk)) onEvent(JSON.parse(line) as WatchEvent);
        } catch (err) {
          finish(err instanceof Error ? err : new Error(String(err)));
          req.destroy();
        }
      });
      res.on("error", finish);
      // `close` without a complete body: the connection broke mid-stream.
      res.on("close", () => {
        finish(res.complete ? undefined : new Error(`watch ${path}: the connection closed mid-stream`));
      });
    });
    req.end();
    return {
      abort: () => {
        aborted = true;
        req.destroy();
      },
    };
  }

  /** Closes idle keep-alive connections (open watches end with their own abort). */
  close(): void {
    this.#agent.destroy();
  }

  #open(
    method: string,
    path: string,
    query: Readonly<Record<string, string>>,
    headers: Record<string, string>,
  ): ClientRequest {
    const url = new URL(this.server + path);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    const token = this.#currentToken();
    return this.#send(url, {
      method,
      agent: this.#agent,
      headers: { ...headers, ...(token !== undefined && { Authorization: `Bearer ${token}` }) },
    });
  }

  // An inline token, or the token file's content, read again once it is older than tokenRereadMs.
  // A failed re-read keeps the last token: it stays valid for a while after rotation.
  #currentToken(): string | undefined {
    const { token, tokenFile } = this.#settings;
    if (!tokenFile) return token;
    const now = performance.now();
    if (now - this.#token.readAt >= this.#tokenRereadMs) {
      try {
        this.#token = { value: readFileSync(tokenFile, "utf8").trim(), readAt: now };
      } catch (err) {
        if (this.#token.value === undefined) throw err;
      }
    }
    return this.#token.value;
  }
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (chunk: Buffer) => chunks.push(chunk));
    res.on("error", reject);
    res.on("end", () => {
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
  });
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  if (text === "") return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}
