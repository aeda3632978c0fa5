'use strict';
// Single-file ES modules as function bodies, for node's vm, which runs only
// scripts without --experimental-vm-modules.  Loaded only when the plain
// compile of user code fails.

const REGEX_AFTER = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void',
	'throw', 'case', 'do', 'else', 'yield', 'await']);

function isSpace(c) {
	return c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0xfeff || c === 0x2028 ||
	       c === 0x2029 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x202f ||
	       c === 0x205f || c === 0x3000;
}

function isIdent(c) {
	return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 36 ||
	       c === 95 || c === 92 || c === 35 || (c >= 128 && !isSpace(c));
}

/*
 * A small lexer over the user's code: enough to find `export` and `import`
 * statements at the top level, and `import.meta` anywhere, skipping strings,
 * templates, comments and regular expressions.  Returns [{kind, pos}].
 */
function topLevelModuleSyntax(src) {
	const n = src.length;
	const hits = [];
	const tpl = [];
	let i = 0;
	let depth = 0;
	let prev = '';

	const skipString = (j, q) => {
		for (j++; j < n; j++) {
			const c = src.charCodeAt(j);
			if (c === 92)
				j++;
			else if (c === q)
				return j + 1;
			else if (c === 10)
				return j;
		}
		return n;
	};
	// Template characters from j; returns [end, openedSubstitution].
	const skipTemplate = (j) => {
		for (; j < n; j++) {
			const c = src.charCodeAt(j);
			if (c === 92)
				j++;
			else if (c === 96)
				return [j + 1, false];
			else if (c === 36 && src.charCodeAt(j + 1) === 123)
				return [j + 2, true];
		}
		return [n, false];
	};
	const skipRegex = (j) => {
		let cls = false;
		for (j++; j < n; j++) {
			const c = src.charCodeAt(j);
			if (c === 92)
				j++;
			else if (c === 91)
				cls = true;
			else if (c === 93)
				cls = false;
			else if (c === 47 && !cls)
				break;
			else if (c === 10)
				return j;
		}
		for (j++; j < n && isIdent(src.charCodeAt(j));)
			j++;
		return j;
	};
	const nextChar = (j) => {
		while (j < n && isSpace(src.charCodeAt(j)))
			j++;
		return src.charCodeAt(j);
	};
	const template = (j) => {
		const [end, open] = skipTemplate(j);
		if (open) {
			tpl.push(depth);
			depth++;
			prev = '{';
		} else {
			prev = 'x';
		}
		return end;
	};

	while (i < n) {
		const c = src.charCodeAt(i);
		if (isSpace(c)) {
			i++;
		} else if (c === 47 && src.charCodeAt(i + 1) === 47) {
			const e = src.indexOf('\n', i);
			i = e < 0 ? n : e;
		} else if (c === 47 && src.charCodeAt(i + 1) === 42) {
			const e = src.indexOf('*/', i + 2);
			i = e < 0 ? n : e + 2;
		} else if (c === 47) {
			if (prev === '' || REGEX_AFTER.has(prev) || (prev.length === 1 && prev !== ')' && prev !== ']' && prev !== 'x')) {
				i = skipRegex(i);
				prev = 'x';
			} else {
				i++;
				prev = '/';
			}
		} else if (c === 39 || c === 34) {
			i = skipString(i, c);
			prev = 'x';
		} else if (c === 96) {
			i = template(i + 1);
		} else if (isIdent(c) && !(c >= 48 && c <= 57)) {
			const s = i;
			while (i < n && isIdent(src.charCodeAt(i)))
				i += src.charCodeAt(i) === 92 ? 2 : 1;
			const word = src.slice(s, i);
			if (word === 'import' && prev !== '.' && src.startsWith('.meta', i) &&
			    !isIdent(src.charCodeAt(i + 5))) {
				hits.push({ kind: 'meta', pos: s });
			} else if (depth === 0 && prev !== '.') {
				if (word === 'export')
					hits.push({ kind: 'export', pos: s });
				else if (word === 'import' && nextChar(i) !== 40 && nextChar(i) !== 46)
					hits.push({ kind: 'import', pos: s });
			}
			prev = REGEX_AFTER.has(word) ? word : 'x';
		} else if ((c >= 48 && c <= 57) || (c === 46 && src.charCodeAt(i + 1) >= 48 && src.charCodeAt(i + 1) <= 57)) {
			while (i < n && (isIdent(src.charCodeAt(i)) || src.charCodeAt(i) === 46))
				i++;
			prev = 'x';
		} else if (c === 40 || c === 91 || c === 123) {
			depth++;
			prev = src[i++];
		} else if (c === 41 || c === 93) {
			depth--;
			prev = src[i++];
		} else if (c === 125) {
			depth--;
			i++;
			if (tpl.length && tpl[tpl.length - 1] === depth) {
				tpl.pop();
				i = template(i);
			} else {
				prev = '}';
			}
		} else {
			prev = src[i++];
		}
	}
	return hits;
}

function lineOf(src, pos) {
	let line = 1;
	for (let i = src.indexOf('\n'); i >= 0 && i < pos; i = src.indexOf('\n', i + 1))
		line++;
	return line;
}

// A SyntaxError led by the place it is about, as vm reports them.
function unsupported(src, pos, filename, what) {
	const err = new SyntaxError(what + ' is not supported: brig runs a single file, so bundle ' +
		'its imports into it first (e.g. esbuild --bundle --format=esm)');
	const start = src.lastIndexOf('\n', pos - 1) + 1;
	const end = src.indexOf('\n', pos);
	const line = src.slice(start, end < 0 ? src.length : end);
	err.stack = filename + ':' + lineOf(src, pos) + '\n' + line + '\n' +
		line.slice(0, pos - start).replace(/[^\t]/g, ' ') + '^^^^^^\n\n' + err.stack;
	return err;
}

// What `import.meta` becomes: a name as long, bound by the wrapper.
const META = '__brig_meta';

/*
 * Turn a single-file module into a function body: drop `export` keywords and
 * `export { ... }` lists, and name import.meta.  Imports of host modules
 * (see hostImport) become declarations pushed onto decls, for the prelude.  Every edit writes the same number of characters,
 * and keeps line breaks, so positions in stack traces stay the user's.
 */
function stripExports(src, hits, filename, decls) {
	const out = src.split('');
	const blank = (from, to) => {
		for (let k = from; k < to; k++) {
			if (out[k] !== '\n' && out[k] !== '\r' && out[k] !== '\u2028' && out[k] !== '\u2029')
				out[k] = ' ';
		}
	};
	const skipWs = (j) => {
		for (;;) {
			while (j < src.length && isSpace(src.charCodeAt(j)))
				j++;
			if (src.startsWith('//', j)) {
				const e = src.indexOf('\n', j);
				j = e < 0 ? src.length : e;
			} else if (src.startsWith('/*', j)) {
				const e = src.indexOf('*/', j + 2);
				j = e < 0 ? src.length : e + 2;
			} else {
				return j;
			}
		}
	};
	const wordAt = (j) => {
		let e = j;
		while (e < src.length && isIdent(src.charCodeAt(e)))
			e++;
		return src.slice(j, e);
	};

	for (const h of hits) {
		if (h.kind === 'meta') {
			for (let k = 0; k < META.length; k++)
				out[h.pos + k] = META[k];
			continue;
		}
		if (h.kind === 'import') {
			const imp = hostImport(src, h.pos, skipWs, wordAt);
			if (!imp || !decls)
				throw unsupported(src, h.pos, filename, 'an import declaration');
			decls.push(...imp.decls);
			blank(h.pos, imp.end);
			continue;
		}
		const after = skipWs(h.pos + 6);
		const ch = src[after];
		if (ch === '{') {
			let j = after + 1;
			while (j < src.length && src[j] !== '}') {
				if (src[j] === '"' || src[j] === "'") {
					const q = src[j];
					for (j++; j < src.length && src[j] !== q; j++) {
						if (src[j] === '\\')
							j++;
					}
				}
				j++;
			}
			let end = skipWs(j + 1);
			if (wordAt(end) === 'from')
				throw unsupported(src, h.pos, filename, 'export ... from');
			end = src[end] === ';' ? end + 1 : j + 1;
			blank(h.pos, end);
		} else if (ch === '*') {
			throw unsupported(src, h.pos, filename, 'export * from');
		} else if (wordAt(after) === 'default') {
			const rest = skipWs(after + 7);
			let w = wordAt(rest);
			let k = rest + w.length;
			if (w === 'async') {
				k = skipWs(k);
				w = wordAt(k) === 'function' ? 'function' : '';
				k += w.length;
			}
			let named = false;
			if (w === 'function' || w === 'class') {
				k = skipWs(k);
				if (src[k] === '*')
					k = skipWs(k + 1);
				const name = wordAt(k);
				named = name !== '' && name !== 'extends';
			}
			blank(h.pos, after + 7);
			if (!named) {
				out[h.pos] = 'v';
				out[h.pos + 1] = 'o';
				out[h.pos + 2] = 'i';
				out[h.pos + 3] = 'd';
			}
		} else {
			blank(h.pos, h.pos + 6);
		}
	}
	return out.join('');
}

// The stand-in of a host module: m.fn(a, b) calls the host function "m.fn"
// with {args: [a, b]}, synchronously.
const HOST = '__brig_host';
const HOST_DECL = 'const ' + HOST + ' = (m) => new Proxy(Object.create(null), { get: (t, k) => ' +
	'typeof k === "string" && k !== "then" ? (...args) => call(m + "." + k, { args }) : ' +
	'undefined }); ';

/*
 * `import * as m from "host:m"`, `import m from "host:m"` and
 * `import { f, g as h } from "host:m"` at pos: the statement's end and the
 * declarations that replace it (imports are hoisted: the prelude is their
 * place).  null for anything else, which brig does not resolve.
 */
function hostImport(src, pos, skipWs, wordAt) {
	const decls = [];
	const names = [];
	let j = skipWs(pos + 6);
	const ident = (k) => wordAt(k);
	if (src[j] !== '"' && src[j] !== "'") {
		for (;;) {
			if (src[j] === '*') {
				j = skipWs(j + 1);
				if (ident(j) !== 'as')
					return null;
				j = skipWs(j + 2);
				const ns = ident(j);
				if (!ns)
					return null;
				names.push({ ns });
				j = skipWs(j + ns.length);
			} else if (src[j] === '{') {
				const close = src.indexOf('}', j);
				if (close < 0)
					return null;
				const parts = [];
				for (const item of src.slice(j + 1, close).split(',')) {
					const m = /^\s*(?:["']?([\w$]+)["']?)(?:\s+as\s+([\w$]+))?\s*$/.exec(item);
					if (!m && item.trim() === '')
						continue;
					if (!m)
						return null;
					parts.push(m[2] ? JSON.stringify(m[1]) + ': ' + m[2] : m[1]);
				}
				names.push({ list: parts });
				j = skipWs(close + 1);
			} else {
				const def = ident(j);
				if (!def || def === 'from')
					return null;
				names.push({ ns: def });
				j = skipWs(j + def.length);
			}
			if (src[j] !== ',')
				break;
			j = skipWs(j + 1);
		}
		if (ident(j) !== 'from')
			return null;
		j = skipWs(j + 4);
	}
	const q = src[j];
	if (q !== '"' && q !== "'")
		return null;
	const close = src.indexOf(q, j + 1);
	const spec = close < 0 ? '' : src.slice(j + 1, close);
	if (!spec.startsWith('host:') || !/^[\w$.-]+$/.test(spec.slice(5)))
		return null;
	const mod = JSON.stringify(spec.slice(5));
	decls.push(HOST_DECL);
	for (const n of names) {
		if (n.ns)
			decls.push('const ' + n.ns + ' = ' + HOST + '(' + mod + '); ');
		else
			decls.push('const { ' + n.list.join(', ') + ' } = ' + HOST + '(' + mod + '); ');
	}
	let end = skipWs(close + 1);
	end = src[end] === ';' ? end + 1 : close + 1;
	return { end, decls };
}

// The declarations of the host modules a body imports (once each helper).
function hostDeclarations(decls) {
	return [...new Set(decls)].join('');
}

// The wrapper's declaration of import.meta's stand-in.
function metaDeclaration(filename) {
	const abs = filename.startsWith('/');
	const meta = {
		url: abs ? 'file://' + encodeURI(filename).replace(/[?#]/g, encodeURIComponent) : filename,
		filename: abs ? filename : undefined,
		dirname: abs ? filename.slice(0, filename.lastIndexOf('/')) || '/' : undefined,
	};
	return 'const ' + META + ' = ' + JSON.stringify(meta) + '; ';
}

module.exports = { topLevelModuleSyntax, stripExports, metaDeclaration, hostDeclarations };
