import base64
import hashlib
import hmac
import secrets
import zlib

data = b"The quick brown fox jumps over the lazy dog"
for name in ("md5", "sha1", "sha256", "sha512", "sha3_256", "blake2b"):
    print(name, hashlib.new(name, data).hexdigest()[:32])
print(hmac.new(b"key", data, hashlib.sha256).hexdigest())
print(hmac.compare_digest(b"a", b"a"), len(secrets.token_hex(16)))
print(hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 1000).hex())
print(hashlib.scrypt(b"password", salt=b"salt", n=16, r=8, p=1).hex()[:32])
print(base64.b64encode(data[:10]), base64.b32encode(b"abc"), zlib.crc32(data), zlib.adler32(data))
print(hashlib.sha256(zlib.compress(data * 10, 9)).hexdigest()[:16])
