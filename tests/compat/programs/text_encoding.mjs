const enc = new TextEncoder();
const bytes = enc.encode('héllo €💡');
console.log(bytes.length, Array.from(bytes.slice(0, 6)));
console.log(new TextDecoder().decode(bytes), new TextDecoder('utf-16le').decode(new Uint8Array([104, 0, 105, 0])));
console.log(new TextDecoder('latin1').decode(new Uint8Array([0xe9, 0x41])));
const into = new Uint8Array(4);
console.log(enc.encodeInto('añb', into), Array.from(into));
try { new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array([0xff])); } catch (e) { console.log(e.name); }
console.log(btoa('hello'), atob('aGVsbG8='), encodeURIComponent('a b&c/é'), decodeURI('%E2%82%AC'));
const u = new URL('https://user@example.com:8080/p/a?x=1&y=two#frag');
u.searchParams.append('z', '3 4');
console.log(u.host, u.pathname, u.search, u.hash, [...u.searchParams.keys()]);
console.log('💡'.length, [...'💡a'].length, 'é'.normalize('NFD').length, String.fromCodePoint(0x1f600).codePointAt(0));
