const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
const data = new TextEncoder().encode('The quick brown fox');
for (const alg of ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512'])
	console.log(alg, hex(await crypto.subtle.digest(alg, data)).slice(0, 32));
const key = await crypto.subtle.importKey('raw', new TextEncoder().encode('key'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
const sig = await crypto.subtle.sign('HMAC', key, data);
console.log(hex(sig), await crypto.subtle.verify('HMAC', key, sig, data));
const aes = await crypto.subtle.importKey('raw', new Uint8Array(16).fill(7), 'AES-GCM', false, ['encrypt', 'decrypt']);
const iv = new Uint8Array(12).fill(1);
const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, aes, data);
console.log(hex(ct).slice(0, 24), new TextDecoder().decode(await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, aes, ct)));
const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', salt: new Uint8Array(8), iterations: 1000, hash: 'SHA-256' },
	await crypto.subtle.importKey('raw', new TextEncoder().encode('pw'), 'PBKDF2', false, ['deriveBits']), 128);
console.log(hex(bits));
const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
const s2 = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, data);
console.log(await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, pair.publicKey, s2, data));
console.log(/^[0-9a-f-]{36}$/.test(crypto.randomUUID()), crypto.getRandomValues(new Uint32Array(4)).length);
