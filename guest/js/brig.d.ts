// Types for the globals that brig gives JavaScript code in its sandbox.
//
// Copy this file next to your code (or list it in tsconfig's "files") for
// editor completion and type checks.  Everything here is a global: there is
// nothing to import.  Each function reaches the host over brig's control
// channel, and the host grants or refuses it according to the run's
// capabilities (--allow-host, --mount, --kv, --host-fn).
//
// Plain functions block until the host answers.  The async* variants return
// at once; calls made together (Promise.all, runAsync) travel to the host
// together and run there in parallel.
//
// User code runs as a script, or, when it uses top-level await or is a
// single-file ES module (`export`, no `import` but of host modules, as `esbuild --bundle
// --format=esm` writes it), as the body of an async function.  There is no
// require, process, Buffer or module: bundle dependencies into the file.
//
// In a session (brig_session_run, `brig repl`) every cell runs in the same
// globals: var, let, const, function and class declarations and globalThis
// properties persist, except the declarations of a cell that uses top-level
// await (it runs as an async function's body; assign to globalThis to keep a
// value).  The REPL prints the value of an expression and keeps it in `_`.
// Handler code (brig_session_add_handler) defines `function handler(event)`,
// possibly async or exported; each handler's code has a top-level scope of
// its own and shares globalThis with the session.

export {};

declare global {
	// ------------------------------------------------------------ errors

	/** The error types the host reports, as `err.name`. */
	type BrigErrorName =
		| 'PermissionError'
		| 'FileNotFoundError'
		| 'IsADirectoryError'
		| 'NotADirectoryError'
		| 'FileExistsError'
		| 'ValueError'
		| 'TimeoutError'
		| 'MemoryError'
		| 'OSError'
		| 'RuntimeError';

	/**
	 * What a refused or failed host call throws (or rejects with).  It is an
	 * `Error` whose `name` is the host's error type and whose `message` is the
	 * host's message, e.g. `PermissionError: host not allowed: evil.com`.
	 * `code` is the matching Node-style code: EACCES, ENOENT, EISDIR, ENOTDIR,
	 * EEXIST, EINVAL, ETIMEDOUT, ENOMEM, EIO, or ERR_BRIG_HOST otherwise.
	 */
	interface BrigError extends Error {
		name: BrigErrorName | string;
		code: 'EACCES' | 'ENOENT' | 'EISDIR' | 'ENOTDIR' | 'EEXIST' | 'EINVAL' | 'ETIMEDOUT' |
			'ENOMEM' | 'EIO' | 'ERR_BRIG_HOST';
	}

	/** JSON values: what kv stores and host functions take and return. */
	type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

	/** Bytes accepted as a request body or file contents. */
	type BrigBytes = Uint8Array | ArrayBuffer | ArrayBufferView;

	// -------------------------------------------------------------- http

	interface HttpOptions {
		/** Request headers.  Values are converted to strings. */
		headers?: Record<string, string | number | boolean>;
		/** The request body: a string is sent as UTF-8. */
		body?: string | BrigBytes;
		/** A value sent as a JSON body, with Content-Type application/json unless set. */
		json?: unknown;
	}

	interface HttpResponse {
		/** True for a 2xx status. */
		readonly ok: boolean;
		/** The HTTP status, e.g. 200. */
		readonly statusCode: number;
		/** The same as statusCode. */
		readonly status: number;
		/** Response headers, names in lower case; repeated headers are joined with ", ". */
		readonly headers: Record<string, string>;
		/** The final URL, after any redirects the host followed. */
		readonly url: string;
		/** The body as text, decoded with the charset of Content-Type (UTF-8 by default). */
		readonly text: string;
		/** The body as bytes. */
		readonly bytes: Uint8Array;
		/** The body parsed as JSON. */
		json<T = any>(): T;
	}

	interface Http {
		/** Any method, e.g. `http.request("OPTIONS", url)`. */
		request(method: string, url: string, options?: HttpOptions): HttpResponse;
		get(url: string, options?: HttpOptions): HttpResponse;
		post(url: string, options?: HttpOptions): HttpResponse;
		put(url: string, options?: HttpOptions): HttpResponse;
		patch(url: string, options?: HttpOptions): HttpResponse;
		delete(url: string, options?: HttpOptions): HttpResponse;
		head(url: string, options?: HttpOptions): HttpResponse;
		options(url: string, options?: HttpOptions): HttpResponse;

		asyncRequest(method: string, url: string, options?: HttpOptions): Promise<HttpResponse>;
		asyncGet(url: string, options?: HttpOptions): Promise<HttpResponse>;
		asyncPost(url: string, options?: HttpOptions): Promise<HttpResponse>;
		asyncPut(url: string, options?: HttpOptions): Promise<HttpResponse>;
		asyncPatch(url: string, options?: HttpOptions): Promise<HttpResponse>;
		asyncDelete(url: string, options?: HttpOptions): Promise<HttpResponse>;
		asyncHead(url: string, options?: HttpOptions): Promise<HttpResponse>;
		asyncOptions(url: string, options?: HttpOptions): Promise<HttpResponse>;

		/** The class of the responses above (for `instanceof`). */
		readonly Response: abstract new (...args: never[]) => HttpResponse;
	}

	/**
	 * HTTP to the hosts the run allows (`--allow-host HOST[:PORT]`, which
	 * also allows its subdomains).  Anything else throws PermissionError.
	 */
	const http: Http;

	// ---------------------------------------------------------------- fs

	interface DirEntry {
		name: string;
		is_dir: boolean;
		size: number;
	}

	interface FileStat {
		name: string;
		size: number;
		is_dir: boolean;
		/** Seconds since the epoch. */
		mod_time: number;
	}

	/**
	 * The directories the run mounts (`--mount VPATH:HOSTPATH[:ro|rw|rwc]`),
	 * by their virtual paths.  Reading, listing, exists and stat need ro;
	 * writing and remove need rw (and rwc to create a file); mkdir needs rwc.
	 * Paths that leave their mount (`..`, symlinks) are refused.
	 */
	interface Fs {
		readText(path: string): string;
		readJson<T = any>(path: string): T;
		readBytes(path: string): Uint8Array;
		writeText(path: string, text: string): void;
		/** Writes JSON.stringify(data, null, indent). */
		writeJson(path: string, data: unknown, indent?: number | string): void;
		writeBytes(path: string, data: BrigBytes): void;
		listdir(path: string): DirEntry[];
		exists(path: string): boolean;
		stat(path: string): FileStat;
		mkdir(path: string): void;
		/** Removes a file or an empty directory. */
		remove(path: string): void;

		asyncReadText(path: string): Promise<string>;
		asyncReadJson<T = any>(path: string): Promise<T>;
		asyncReadBytes(path: string): Promise<Uint8Array>;
		asyncWriteText(path: string, text: string): Promise<void>;
		asyncWriteJson(path: string, data: unknown, indent?: number | string): Promise<void>;
		asyncWriteBytes(path: string, data: BrigBytes): Promise<void>;
		asyncListdir(path: string): Promise<DirEntry[]>;
		asyncExists(path: string): Promise<boolean>;
		asyncStat(path: string): Promise<FileStat>;
		asyncMkdir(path: string): Promise<void>;
		asyncRemove(path: string): Promise<void>;
	}

	const fs: Fs;

	// ---------------------------------------------------------------- kv

	/** The run's key-value store: in memory, or the SQLite file of `--kv FILE`. */
	interface Kv {
		/** The stored value, or `defaultValue` (null if not given) when the key is absent. */
		get<T extends JsonValue = JsonValue>(key: string, defaultValue?: T): T | null;
		/** Stores a JSON value (undefined is stored as null). */
		set(key: string, value: unknown): void;
		/** Removes the key; true if it existed. */
		delete(key: string): boolean;
		keys(): string[];

		asyncGet<T extends JsonValue = JsonValue>(key: string, defaultValue?: T): Promise<T | null>;
		asyncSet(key: string, value: unknown): Promise<void>;
		asyncDelete(key: string): Promise<boolean>;
		asyncKeys(): Promise<string[]>;
	}

	const kv: Kv;

	// --------------------------------------------------- host functions

	/**
	 * Calls the host function `name` (`--host-fn NAME=COMMAND`, or one the
	 * embedding program registered) with a JSON object of arguments and
	 * returns its JSON result.
	 *
	 * Values sent to the host (here, kv.set, handler results) arrive exactly
	 * as JSON.stringify would have them, -0 and integers beyond 2**63
	 * included, or throw before anything is sent: RangeError for NaN,
	 * Infinity, nesting deeper than 512 levels and calls too big for one
	 * protocol frame; TypeError for lone surrogates, NUL in keys, cycles,
	 * BigInt, Map, Set, Promise and binary data (which JSON.stringify would
	 * send as {} or null).
	 */
	function call<T = any>(name: string, args?: Record<string, unknown>): T;
	function asyncCall<T = any>(name: string, args?: Record<string, unknown>): Promise<T>;

	// ---------------------------------------------------------- helpers

	/**
	 * Waits for all the promises, like Promise.all: calls started together
	 * run on the host in parallel.  A single array argument is taken as the
	 * list of promises.
	 */
	function runAsync<T extends readonly unknown[]>(...promises: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }>;
	function runAsync<T>(promises: readonly (T | PromiseLike<T>)[]): Promise<T[]>;

	/** Seconds since the epoch (the host's clock), with a fraction. */
	function time_now(): number;

	// ------------------------------------------------ standard globals
	//
	// Besides the ECMAScript built-ins, the sandbox has these, as in Node:
	// console (log/info/debug to stdout; error/warn/trace to stderr),
	// setTimeout, setInterval, setImmediate and their clear* functions,
	// queueMicrotask, structuredClone, TextEncoder, TextDecoder, URL,
	// URLSearchParams, AbortController, AbortSignal, Event, EventTarget,
	// DOMException, atob, btoa, performance and crypto (getRandomValues,
	// randomUUID, subtle).  Their types come with TypeScript's "dom" or
	// "webworker" lib; timers return Node-style objects with ref/unref.
}

/**
 * Host modules: `import * as m from "host:m"` (or `import m from`, or
 * `import { f } from`) binds m.f(a, b) to the host function named "m.f",
 * called synchronously as call("m.f", {args: [a, b]}).  The Node SDK's
 * hostModule("m").register("f", callback) grants such functions.  Imports
 * of anything else are refused: bundle dependencies into the file.
 */
declare module 'host:*' {
	const functions: { readonly [name: string]: (...args: any[]) => any };
	export = functions;
}
